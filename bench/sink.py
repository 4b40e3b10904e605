"""Local HTTP endpoints for the benchmark: the agencies' webhook receiver and an OTLP trace sink.

The receiver runs in its own process (`ReceiverProcess`, `python -m bench.sink PORT`), so its work
is not on the driver's event loop: it stamps each arrival, names the report and its produce time,
and writes one line per arrival to its stdout, which the driver reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from referral_bus import event_loop
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


class Arrivals(Protocol):
    """What the driver reads: every arrival so far (cleared between runs)."""

    arrivals: list[Arrival]


@dataclass
class ReceiverProcess:
    """A `Receiver` in a child process; `arrivals` fills from the lines it writes."""

    port: int = field(default_factory=free_port)
    arrivals: list[Arrival] = field(default_factory=list)
    slow: tuple[str, float] | None = None  # (recipient id, ms): that recipient's webhook answers this late
    _proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """Base URL of the recipients' webhooks."""
        return f"http://127.0.0.1:{self.port}/agencies"

    @property
    def pid(self) -> int | None:
        """The receiver process's pid (for its CPU seconds)."""
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        """Start the child and wait until it listens."""
        slow = [self.slow[0], str(self.slow[1])] if self.slow else []
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sink", str(self.port), *slow, stdout=asyncio.subprocess.PIPE, limit=1 << 20
        )
        assert self._proc.stdout is not None
        if (await self._proc.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the benchmark receiver process did not start")
        self._reader = asyncio.ensure_future(self._read(self._proc.stdout))

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        while line := await stdout.readline():
            at, rid, sent = line.decode().rstrip("\n").split("\t")
            self.arrivals.append(Arrival(float(at), sent, rid, None))

    async def stop(self) -> None:
        """Stop the child."""
        if self._proc and self._proc.returncode is None:
            self._proc.terminate()
            await self._proc.wait()
        if self._reader:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


@dataclass
class Receiver:
    """The agencies' webhook endpoint: answers 200 to every POST and records its arrival."""

    port: int = field(default_factory=free_port)
    arrivals: list[Arrival] = field(default_factory=list)
    emit: bool = False  # write each arrival to stdout (in `ReceiverProcess`'s child) instead of keeping it
    slow: tuple[str, float] | None = None  # (recipient id, ms): that recipient's answers come this late
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """Base URL of the recipients' webhooks."""
        return f"http://127.0.0.1:{self.port}/agencies"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.slow and request.match_info["recipient"] == self.slow[0]:
            await asyncio.sleep(self.slow[1] / 1000)  # arrival counted when the answer goes back
        at = time.time() * 1000
        headers = request.headers
        sent = headers.get(SENT_HEADER)
        arrival = Arrival(at, sent, headers.get(KEY_HEADER), None if sent else body)
        if self.emit:
            rid, sent_ms = arrival.identify()
            sys.stdout.write(f"{at}\t{rid}\t{sent_ms}\n")
        else:
            self.arrivals.append(arrival)
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


async def _serve(port: int, slow: tuple[str, float] | None = None) -> None:
    receiver = Receiver(port=port, emit=True, slow=slow)
    await receiver.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    parent = os.getppid()
    try:
        while os.getppid() == parent:  # flush arrivals in small batches; leave when the runner is gone
            await asyncio.sleep(0.02)
            sys.stdout.flush()
    finally:
        await receiver.stop()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        slow_arg = (sys.argv[2], float(sys.argv[3])) if len(sys.argv) > 3 else None  # recipient, ms
        event_loop.run(_serve(int(sys.argv[1]), slow_arg))  # EVENT_LOOP, as every process of the run
