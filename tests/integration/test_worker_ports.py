"""A worker whose web port another process took before it bound starts again on a fresh port, and an answer from
that other process never counts as the worker's readiness (referral_devstack/workers.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from referral_devstack import workers as workers_module
from referral_devstack.workers import PORT_TAKEN, Workers, listening_ports, temp_workdir


class _AlwaysReady(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's name
        body = b'{"status": "ready"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def squatter() -> Iterator[int]:
    """Another process's HTTP server on a port, answering 200 to every request (/readyz included)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.kafka
def test_a_worker_whose_port_was_taken_starts_again_on_a_fresh_one(
    kafka: str, namespace: str, squatter: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks = iter([squatter])  # the first port picked is taken (and answers /readyz 200) before the worker binds
    real = workers_module.free_port
    monkeypatch.setattr(workers_module, "free_port", lambda: next(picks, None) or real())
    with temp_workdir("ports-") as work:
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka})
        try:
            workers.start("intake")
            assert workers.ports["intake"] == squatter
            workers.wait_ready(names=["intake"], timeout=180)
            port = workers.ports["intake"]
            assert port != squatter
            assert PORT_TAKEN in workers.log_path("intake").read_bytes()  # it did fail on the taken port first
            assert listening_ports(workers.procs["intake"].pid) == {port}
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").json() == {"status": "ready", "service": "intake"}
            assert not workers.port_taken("intake")
            workers.stop("intake")  # a restart keeps a port nobody took
            workers.start("intake")
            assert workers.ports["intake"] == port
        finally:
            workers.stop_all()
