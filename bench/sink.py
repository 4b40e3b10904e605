"""Local HTTP endpoints for the benchmark: the agencies' webhook receiver and an OTLP trace sink.

The receiver does as little as possible while the clock runs: it stamps the arrival time and
keeps the body; which report it was and when it was produced are worked out after the run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from aiohttp import web

from referral_devstack.receivers import serve_post, stop_serving
from referral_devstack.workers import free_port

SENT_HEADER = "X-Bench-Sent-Ms"
KEY_HEADER = "X-Bench-Key"


@dataclass(frozen=True)
class Arrival:
    """One delivery: arrival time (epoch ms), and either the baseline's headers or our JSON body."""

    at_ms: float
    sent_ms: str | None
    key: str | None
    body: bytes | None

    def identify(self) -> tuple[str, float]:
        """(report id, produce timestamp in ms) of this delivery."""
        if self.sent_ms is not None and self.key is not None:
            return self.key.split("/", 1)[-1], float(self.sent_ms)
        doc = json.loads(self.body or b"{}")
        report = doc["case"]["report"]
        return report["report_id"], float(report["received_at"])


@dataclass
class Receiver:
    """The agencies' webhook endpoint: answers 200 to every POST and records its arrival."""

    port: int = field(default_factory=free_port)
    arrivals: list[Arrival] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """Base URL of the recipients' webhooks."""
        return f"http://127.0.0.1:{self.port}/agencies"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        at = time.time() * 1000
        headers = request.headers
        sent = headers.get(SENT_HEADER)
        self.arrivals.append(Arrival(at, sent, headers.get(KEY_HEADER), None if sent else body))
        return web.Response(status=200)

    async def start(self) -> None:
        """Listen on 127.0.0.1."""
        self._runner = await serve_post(
            self.port, "/agencies/{recipient}", self._handle, max_body=8 * 1024 * 1024, backlog=1024
        )

    async def stop(self) -> None:
        """Stop listening."""
        await stop_serving(self._runner)


@dataclass
class OtlpSink:
    """Accepts OTLP/HTTP trace exports and discards them (counts requests and bytes)."""

    port: int = field(default_factory=free_port)
    requests: int = 0
    bytes: int = 0
    _runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        """Value for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.bytes += len(await request.read())
        self.requests += 1
        return web.Response(status=200, body=b"", content_type="application/x-protobuf")

    async def start(self) -> None:
        """Listen on 127.0.0.1."""
        self._runner = await serve_post(self.port, "/v1/{signal}", self._handle, max_body=64 * 1024 * 1024)

    async def stop(self) -> None:
        """Stop listening."""
        await stop_serving(self._runner)
