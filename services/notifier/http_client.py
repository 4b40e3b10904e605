"""A lean pooled HTTP/1.1 client for one thing: POST a small body, get the status (the notifier's webhooks).

With it a webhook `deliver` takes ~160 µs of CPU against ~280 µs with aiohttp's client (bench/webhook_post.py,
docs/performance.md). What it keeps: TLS with certificate and host name verification, keep-alive
connections pooled per origin with one retry on a fresh connection when a pooled one closed before any
byte of the answer, a deadline over the whole exchange (connect, TLS, write, read), no redirects followed,
a bounded response read (`http_response.ResponseParser`), chunked, Content-Length and read-until-close bodies.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, unquote, urlsplit

import idna

from referral_bus.errors import ReferralBusError
from services.notifier.http_response import MalformedResponse, ResponseParser

IDLE_SECONDS = 15.0  # a pooled connection idle longer is closed (aiohttp's keep-alive default): reused, or swept


class ConnectionFailed(ReferralBusError):
    """No answer: the connection could not be made, TLS refused the server, or it closed before answering."""


class UnsendableRequest(ReferralBusError):
    """The request cannot be sent as asked (its url, or a header with a line break); fix its configuration."""


@dataclass(frozen=True)
class Origin:
    """Where a URL's requests go and the start of each request's head (request line and Host)."""

    scheme: str
    host: str
    port: int
    head: str


@functools.lru_cache(maxsize=256)
def origin_of(url: str) -> Origin:
    """The URL's origin and request head start; `UnsendableRequest` for anything but an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.port == 0:  # no server's port: never the scheme's default instead
            raise ValueError(parts.port)
    except ValueError:
        raise UnsendableRequest("the url's port is not a number from 1 to 65535") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or any(c in " /\\\x7f" or c < " " for c in host):
        raise UnsendableRequest("the url must be http:// or https:// followed by a host name")
    try:
        if not host.isascii():  # IDNA 2008 with UTS 46 as aiohttp (yarl) did: IDNA 2003 maps straße.de to strasse.de
            host = _idna(host)
        elif ":" not in host:
            host.encode("idna")  # as the resolver will: an empty or over-long label fails here, not mid-connect
    except UnicodeError:
        raise UnsendableRequest("the url's host name is not a valid (internationalised) domain name") from None
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") + (
        "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?") if parts.query else ""
    )
    shown = f"[{host}]" if ":" in host else host
    authority = shown if parts.port is None else f"{shown}:{port}"
    head = f"POST {target} HTTP/1.1\r\nHost: {authority}\r\n"
    if parts.username is not None:  # user info in the URL: HTTP Basic credentials, as aiohttp sent them
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        try:  # latin-1 as aiohttp sent them (a recipient's server may expect exactly those bytes)
            pair = credentials.encode("latin-1")
        except UnicodeEncodeError:  # beyond latin-1 (aiohttp refused these): UTF-8, as RFC 7617 allows
            pair = credentials.encode()
        head += f"Authorization: Basic {base64.b64encode(pair).decode('ascii')}\r\n"
    return Origin(parts.scheme, host, port, head)


def _idna(host: str) -> str:
    """The ASCII form of a non-ASCII host name, as yarl gives it (IDNA 2003 only where IDNA 2008 refuses)."""
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError:
        return host.encode("idna").decode("ascii")


class _Stale(Exception):
    """A connection closed before any byte of the answer (a pooled one may have been closed by the server)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request at a time."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.answered = False
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's TCP and TLS transports subclass neither

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # bytes while idle: out of step, never reuse
            self.close()
            return
        self.answered = True
        try:
            parser.feed(data)
        except MalformedResponse as exc:
            self._settle(exc)
            return
        if parser.done:
            self._settle(None)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.parser is None:
            return
        if not self.answered:
            self._settle(_Stale())
            return
        try:
            self.parser.eof()
        except MalformedResponse as error:
            self._settle(error)
            return
        self._settle(None)

    def _settle(self, error: BaseException | None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)

    async def exchange(self, request: bytes, deadline: float) -> ResponseParser:
        """Send one request and wait for its whole response; `TimeoutError` at `deadline` (the loop's clock)."""
        assert self.transport is not None
        if self.closed or self.transport.is_closing():
            raise _Stale()
        self.parser = parser = ResponseParser()
        self.answered = False
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self.transport.write(request)
        timer = loop.call_at(deadline, self._expire)  # one timer handle: `asyncio.timeout` costs ≈ 2 µs more
        try:
            await self._waiter
        finally:
            timer.cancel()
            self.parser = None
            self._waiter = None
        return parser

    def _expire(self) -> None:
        self._settle(TimeoutError())

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpClient:
    """Pooled connections per origin for POSTs; at most `max_connections` requests at once."""

    def __init__(
        self, *, verify_tls: bool = True, max_connections: int = 100, tls: ssl.SSLContext | None = None
    ) -> None:
        self.max_connections = max_connections
        self._tls = tls or _tls_context(verify_tls)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._slots = asyncio.Semaphore(max_connections)
        self._sweeper: asyncio.TimerHandle | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        """POST `body` with `headers` (plus Host and Content-Length); the answer's status, within `timeout` seconds.

        Raises `TimeoutError`, `ConnectionFailed`, `MalformedResponse` or `UnsendableRequest`.
        """
        origin = origin_of(url)
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
            raise UnsendableRequest("a header name or value holds a line break")
        request = f"{origin.head}{lines}Content-Length: {len(body)}\r\n\r\n".encode() + body
        loop = self._bind()
        deadline = loop.time() + timeout  # one deadline over the slot wait, the connection and the exchange
        if self._slots.locked():  # every slot taken: wait for one until the deadline
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        else:
            await self._slots.acquire()  # a slot is free: taken without waiting
        try:
            connection = self._pooled(origin)
            if connection is not None:  # the usual case: nothing waits but the exchange, timed by its own timer
                try:
                    return await self._exchange(connection, request, deadline)
                except _Stale:
                    pass  # the server closed it while idle: once more on a new connection
            async with asyncio.timeout_at(deadline):
                connection = await self._connect(origin)
            try:
                return await self._exchange(connection, request, deadline)
            except _Stale:
                raise ConnectionFailed("the server closed the connection without answering") from None
        finally:
            self._slots.release()

    async def _exchange(self, connection: _Connection, request: bytes, deadline: float) -> int:
        reusable = False
        try:
            parser = await connection.exchange(request, deadline)
            reusable = parser.keep_alive
            return parser.status
        finally:
            if reusable and not connection.closed:
                connection.idle_since = time.monotonic()
                self._idle.setdefault(connection.origin, []).append(connection)
                if self._sweeper is None and self._loop is not None:
                    self._sweeper = self._loop.call_later(IDLE_SECONDS, self._sweep)
            else:
                self._discard(connection)

    def _pooled(self, origin: Origin) -> _Connection | None:
        """The most recently used idle connection to `origin` still open; older idle ones are closed."""
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if _usable(connection, now):
                return connection
            self._discard(connection)
        return None

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def _sweep(self) -> None:
        """Close the connections idle too long or closed by their server; again later while any stay idle."""
        self._sweeper = None
        now = time.monotonic()
        for origin, idle in list(self._idle.items()):
            kept = [c for c in idle if _usable(c, now)]
            for connection in idle:
                if connection not in kept:
                    self._discard(connection)
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]
        if self._idle and self._loop is not None and not self._loop.is_closed():
            self._sweeper = self._loop.call_later(IDLE_SECONDS, self._sweep)

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        secure = origin.scheme == "https"
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(origin),
                origin.host,
                origin.port,
                ssl=self._tls if secure else None,
                server_hostname=origin.host.rstrip(".") if secure else None,  # certificates name no root dot
            )
        except ssl.SSLCertVerificationError:
            raise ConnectionFailed("the server's TLS certificate did not verify") from None
        except ssl.SSLError:
            raise ConnectionFailed("the TLS handshake failed") from None
        except OSError as exc:
            raise ConnectionFailed(f"could not connect ({type(exc).__name__})") from None
        self._open.add(connection)
        return connection

    def _bind(self) -> asyncio.AbstractEventLoop:
        """Connections belong to one event loop: a new loop starts with an empty pool. The running loop."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._idle, self._open = {}, set()
            self._slots = asyncio.Semaphore(self.max_connections)
            self._sweeper = None
        return loop

    async def close(self) -> None:
        """Close every connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connection in self._open:
            connection.close()
        self._idle, self._open = {}, set()


def _usable(connection: _Connection, now: float) -> bool:
    """An idle connection still open and idle for less than `IDLE_SECONDS`."""
    return not connection.closed and now - connection.idle_since < IDLE_SECONDS


def _tls_context(verify: bool) -> ssl.SSLContext:
    """The system's trusted CAs with host name checks; neither when `verify` is off (development only)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])  # the only protocol we speak, as aiohttp offered it
    return context
