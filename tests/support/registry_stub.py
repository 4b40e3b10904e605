"""A real local HTTP server answering the Confluent `GET /schemas/ids/<id>` call, counting requests.

For the registry client's behaviour the real registry cannot be made to show: an answer that takes
seconds, a schema body Apicurio would refuse to store, exact request counts.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Stub:
    """What the stub serves (schema text by id; any other id is 404) and what it was asked."""

    url: str = ""
    schemas: dict[int, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    requests: Counter[int] = field(default_factory=Counter)


@contextlib.contextmanager
def registry_stub(schemas: dict[int, str] | None = None, *, delay_seconds: float = 0.0) -> Iterator[Stub]:
    """A stub registry on a free port of 127.0.0.1 for the duration of the block."""
    stub = Stub(schemas=dict(schemas or {}), delay_seconds=delay_seconds)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) != 3 or parts[:2] != ["schemas", "ids"] or not parts[2].isdigit():
                self._answer(404, {"error_code": 404, "message": "not found"})
                return
            schema_id = int(parts[2])
            stub.requests[schema_id] += 1
            time.sleep(stub.delay_seconds)
            if schema_id in stub.schemas:
                self._answer(200, {"schema": stub.schemas[schema_id]})
            else:
                self._answer(404, {"error_code": 40403, "message": "Schema not found"})

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="registry-stub", daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
