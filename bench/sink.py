"""Local HTTP endpoints for the benchmark: the agencies' webhook receiver and an OTLP trace sink.

The receiver runs in its own process (`ReceiverProcess`, `python -m bench.sink PORT`), so its work
is not on the driver's event loop: it stamps each arrival, names the report and its produce time,
and writes one line per arrival to its stdout, which the driver reads. It is a lean HTTP/1.1 server
(asyncio protocol + aiohttp's llhttp request parser, no web application): it runs on the machine under
test, so its CPU per report is taken from the workers' (bench/results/drv.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpRequestParser

from referral_bus import event_loop
from referral_devstack.receivers import serve_post, stop_serving
from referral_devstack.workers import free_port

SENT_HEADER = "X-Bench-Sent-Ms"
KEY_HEADER = "X-Bench-Key"
MAX_BODY = 8 * 1024 * 1024
_REPORT_ID, _RECEIVED_AT = b'"report_id":', b'"received_at":'
_INTEGER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?=[,}])")


def _key_at(body: bytes, key: bytes) -> int:
    """Where the value of the body's one `key` (compact JSON) starts; -1 when it is not there exactly once."""
    i = body.find(key)
    if i < 1 or body[i - 1] not in b"{," or body.find(key, i + 1) >= 0:
        return -1
    return i + len(key)


def report_of(body: bytes) -> tuple[str, float]:
    """(report_id, received_at) of a notifier's document (JSON: `case.report`), read without parsing the whole body.

    Bytes search for the body's only `"report_id":"…"` and `"received_at":<integer>` (no JSON string can hold
    `"key":` unescaped, and a `{` or `,` before it makes it a key); `json.loads` whenever either key is
    not there exactly once, the id holds an escape, or the time is not a plain integer.
    """
    i, j = _key_at(body, _REPORT_ID), _key_at(body, _RECEIVED_AT)
    if i > 0 and j > 0 and body[i : i + 1] == b'"' and (at := _INTEGER.match(body, j)):
        end = body.find(b'"', i + 1)
        rid = body[i + 1 : end]
        if end > i and b"\\" not in rid:
            with contextlib.suppress(UnicodeDecodeError):
                return rid.decode(), float(at[0])
    report = json.loads(body)["case"]["report"]
    return report["report_id"], float(report["received_at"])


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
        return report_of(self.body or b"{}")


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
        rest = b""
        while chunk := await stdout.read(1 << 16):  # what the child flushed (its lines of 20 ms), in one read
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            self.arrivals += [_arrival(line) for line in lines]

    async def stop(self) -> None:
        """Stop the child."""
        if self._proc and self._proc.returncode is None:
            self._proc.terminate()
            await self._proc.wait()
        if self._reader:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


def _arrival(line: bytes) -> Arrival:
    """An arrival from the child's line `at<TAB>report id<TAB>sent ms`."""
    at, rid, sent = line.decode().split("\t")
    return Arrival(float(at), sent, rid, None)


_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_TOO_LARGE = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_PATH = "/agencies/"


class _Connection(BaseProtocol):
    """One keep-alive connection: requests parsed by aiohttp's HTTP/1.1 parser (llhttp), answered in order."""

    def __init__(self, receiver: Receiver, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, HttpRequestParser(self, loop, MAX_BODY, max_field_size=65536, auto_decompress=False))
        self.receiver = receiver
        self.reading: deque[tuple[Any, Any]] = deque()  # (message, payload) parsed, body still arriving
        self.answers: deque[tuple[float, Any, bytes]] = deque()  # (due, message, body) in request order
        self.timer: asyncio.TimerHandle | None = None
        self.taking = False

    def data_received(self, data: bytes) -> None:
        assert self._parser is not None
        try:
            messages, upgraded, _ = self._parser.feed_data(data)
        except HttpProcessingError:
            self._reply(_BAD, close=True)
            return
        self.reading.extend(messages)
        if self.taking:  # called again from within `read_nowait` (aiohttp resumes its parser): the loop below goes on
            return
        self.taking = True
        while self.reading and self.reading[0][1].is_eof():
            message, payload = self.reading.popleft()
            body = payload.read_nowait()
            self.answers.append((self._loop.time() + self.receiver.delay(message.path), message, body))
        self.taking = False
        if upgraded:  # no upgrade is offered: the bytes after the request are not HTTP
            self._reply(_BAD, close=True)
        elif self.timer is None:
            self._answer()

    def _answer(self) -> None:
        """Answer every request now due, in order; a later one waits for the one before (a slow recipient's)."""
        self.timer = None
        while self.answers and self.answers[0][0] <= self._loop.time():
            _, message, body = self.answers.popleft()
            self._reply(self.receiver.arrive(message, body), close=message.should_close)
        if self.answers:
            self.timer = self._loop.call_at(self.answers[0][0], self._answer)

    def _reply(self, answer: bytes, *, close: bool) -> None:
        if self.transport is not None:
            self.transport.write(answer)
            if close or answer in (_BAD, _TOO_LARGE):
                self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.reading.clear()  # a request cut short never arrived; answers due still count their arrival


@dataclass
class Receiver:
    """The agencies' webhook endpoint: answers 200 to every POST to /agencies/{recipient} and records its arrival."""

    port: int = field(default_factory=free_port)
    arrivals: list[Arrival] = field(default_factory=list)
    emit: bool = False  # write each arrival to stdout (in `ReceiverProcess`'s child) instead of keeping it
    slow: tuple[str, float] | None = None  # (recipient id, ms): that recipient's answers come this late
    _server: asyncio.AbstractServer | None = None

    @property
    def base_url(self) -> str:
        """Base URL of the recipients' webhooks."""
        return f"http://127.0.0.1:{self.port}/agencies"

    def delay(self, path: str) -> float:
        """Seconds before the answer to a request for `path` (the slow recipient's, else none)."""
        if self.slow and path == _PATH + self.slow[0]:
            return self.slow[1] / 1000  # arrival counted when the answer goes back
        return 0.0

    def arrive(self, message: Any, body: bytes) -> bytes:
        """Record one request's arrival (a POST to a recipient's webhook); the answer to send."""
        path = message.path
        if message.method != "POST" or not path.startswith(_PATH) or "/" in path[len(_PATH) :] or path == _PATH:
            return _NOT_FOUND
        if len(body) > MAX_BODY:
            return _TOO_LARGE
        at = time.time() * 1000
        headers = message.headers
        sent = headers.get(SENT_HEADER)
        arrival = Arrival(at, sent, headers.get(KEY_HEADER), None if sent else body)
        if self.emit:
            rid, sent_ms = arrival.identify()
            sys.stdout.write(f"{at}\t{rid}\t{sent_ms}\n")
        else:
            self.arrivals.append(arrival)
        return _OK

    async def start(self) -> None:
        """Listen on 127.0.0.1."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self, loop), "127.0.0.1", self.port, backlog=1024)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()


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
