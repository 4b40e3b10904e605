"""The lean HTTP client against real local servers speaking raw bytes: pooling, the stale-connection retry, deadlines,
body framings, hostile answers, redirects not followed, and TLS with verification (a CA made here)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import uvloop
import yarl
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier import http_client
from services.notifier.http_client import ConnectionFailed, HttpClient, UnsendableRequest, origin_of
from services.notifier.http_response import MalformedResponse
from tests.support import certificates
from tests.support.polling import wait_for


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    """Every test here on both loops EVENT_LOOP offers (uvloop's transports are no asyncio.Transport subclasses)."""
    return uvloop.EventLoopPolicy() if request.param == "uvloop" else asyncio.DefaultEventLoopPolicy()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
# (connection number from 0, request number on it from 0, the request's head) -> bytes to answer, or None to close
Script = Callable[[int, int, bytes], Awaitable[bytes | None]]


class Server:
    """A local server answering each request as a script says; it records every request head it read."""

    def __init__(self, script: Script, close_after: int | None) -> None:
        self.script = script
        self.close_after = close_after  # close each connection after answering its request number this
        self.connections = 0
        self.ended = 0  # connections the client closed
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            for request in range(1000):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests.append(head)
                answer = await self.script(number, request, head)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if request == self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.ended += 1
        except asyncio.CancelledError:
            pass  # the test ended
        finally:
            writer.close()


@asynccontextmanager
async def serving(
    script: Script, tls: ssl.SSLContext | None = None, *, close_after: int | None = None
) -> AsyncIterator[Server]:
    server = Server(script, close_after)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


def answer(data: bytes | None) -> Script:
    async def script(connection: int, request: int, head: bytes) -> bytes | None:
        return data

    return script


async def test_requests_reuse_one_pooled_connection_and_send_the_head_as_given() -> None:
    client = HttpClient()
    async with serving(answer(OK)) as server:
        url = f"http://127.0.0.1:{server.port}/in/hook?x=1"
        for _ in range(3):
            assert (
                await client.post(url, b"{}", {"Content-Type": "application/json", "traceparent": "00-a-b-01"}, 5)
                == 200
            )
    await client.close()
    assert server.connections == 1 and len(server.requests) == 3
    assert server.requests[0].startswith(b"POST /in/hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert (
        b"\r\ntraceparent: 00-a-b-01\r\n" in server.requests[0] and b"\r\nContent-Length: 2\r\n" in server.requests[0]
    )


async def test_a_pooled_connection_closed_before_any_answer_byte_is_retried_once_on_a_new_one() -> None:
    async def close_second(connection: int, request: int, head: bytes) -> bytes | None:
        return None if request == 1 else OK  # each connection answers its first request only

    client = HttpClient()
    async with serving(close_second) as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert await client.post(url, b"a", {}, 5) == 200
        assert await client.post(url, b"b", {}, 5) == 200  # the pooled one closes unanswered: retried on a new one
    await client.close()
    assert server.connections == 2 and len(server.requests) == 3


async def test_a_connection_idle_too_long_is_closed_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_client, "IDLE_SECONDS", 0.0)
    client = HttpClient()
    async with serving(answer(OK)) as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert [await client.post(url, b"a", {}, 5) for _ in range(2)] == [200, 200]
    await client.close()
    assert server.connections == 2


async def test_idle_connections_are_swept_without_another_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_client, "IDLE_SECONDS", 0.2)
    client = HttpClient()
    async with serving(answer(OK)) as server:
        assert await client.post(f"http://127.0.0.1:{server.port}/", b"a", {}, 5) == 200
        assert await wait_for(lambda: server.ended == 1, 10)
    await client.close()


async def test_a_new_connection_closed_without_answer_fails_without_retry() -> None:
    client = HttpClient()
    async with serving(answer(None)) as server:
        with pytest.raises(ConnectionFailed, match="without answering"):
            await client.post(f"http://127.0.0.1:{server.port}/", b"a", {}, 5)
    await client.close()
    assert server.connections == 1 and len(server.requests) == 1


async def test_an_answer_cut_short_on_a_pooled_connection_is_malformed_and_never_retried() -> None:
    async def cut(connection: int, request: int, head: bytes) -> bytes | None:
        return OK if request == 0 else b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"

    client = HttpClient()
    async with serving(cut, close_after=1) as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert await client.post(url, b"a", {}, 5) == 200
        with pytest.raises(MalformedResponse, match="before its response ended"):
            await client.post(url, b"b", {}, 5)  # 3 of 10 bytes, then the close
    await client.close()
    assert server.connections == 1 and len(server.requests) == 2


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",  # then the server closes: early close
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 2xx OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Huge: " + b"a" * 200_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00",  # a TLS record on a plain connection
    ],
)
async def test_hostile_answers_are_malformed_responses_never_a_hang(data: bytes) -> None:
    client = HttpClient()
    async with serving(answer(data), close_after=0) as server:  # an early close, or the head already off the grammar
        task = client.post(f"http://127.0.0.1:{server.port}/", b"a", {}, 10)
        with pytest.raises(MalformedResponse):
            await asyncio.wait_for(task, 5)
    await client.close()


async def test_a_server_that_never_answers_or_trickles_is_cut_at_the_deadline() -> None:
    async def trickle(connection: int, request: int, head: bytes) -> bytes | None:
        await asyncio.sleep(3600)
        return None

    client = HttpClient()
    async with serving(trickle) as server:
        start = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.post(f"http://127.0.0.1:{server.port}/", b"a", {}, 0.3), 10)
        assert asyncio.get_running_loop().time() - start < 3
    await client.close()


async def not_hung(post: Awaitable[int], seconds: float = 10) -> int:
    """`post`, failing the test (not raising TimeoutError) if it is still going after `seconds`: a missed deadline."""
    guard = asyncio.timeout(seconds)
    try:
        async with guard:
            return await post
    except TimeoutError:
        if guard.expired():
            raise AssertionError(f"still waiting after {seconds} s: the client's deadline did not cut it") from None
        raise


async def test_a_stalled_answer_on_a_pooled_connection_is_cut_at_the_deadline_and_frees_the_slot() -> None:
    async def second_stalls(connection: int, request: int, head: bytes) -> bytes | None:
        if (connection, request) == (0, 1):
            await asyncio.sleep(3600)
        return OK

    client = HttpClient(max_connections=1)
    async with serving(second_stalls) as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert await not_hung(client.post(url, b"a", {}, 5)) == 200  # pools connection 0
        with pytest.raises(TimeoutError):
            await not_hung(client.post(url, b"b", {}, 0.3))  # on the pooled connection, which never answers
        assert await not_hung(client.post(url, b"c", {}, 5)) == 200  # the one slot is free; never the stalled one
    await client.close()
    assert server.connections == 2 and len(server.requests) == 3


async def test_waiting_for_a_connection_slot_counts_toward_the_deadline() -> None:
    async def first_stalls(connection: int, request: int, head: bytes) -> bytes | None:
        if connection == 0:
            await asyncio.sleep(3600)
        return OK

    client = HttpClient(max_connections=1)
    async with serving(first_stalls) as server:
        url = f"http://127.0.0.1:{server.port}/"
        busy = asyncio.ensure_future(client.post(url, b"a", {}, 3600))  # holds the one slot
        assert await wait_for(lambda: len(server.requests) == 1, 10)
        with pytest.raises(TimeoutError):
            await not_hung(client.post(url, b"b", {}, 0.3))
        assert len(server.requests) == 1  # the second request never got a slot, so never left
        busy.cancel()
        with pytest.raises(asyncio.CancelledError):
            await busy
        assert await not_hung(client.post(url, b"c", {}, 5)) == 200  # a cancelled post gives its slot back
    await client.close()


@pytest.mark.parametrize(
    ("data", "reused"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"a" * 200_000, False),  # over the read limit
    ],
)
async def test_each_body_framing_ends_the_exchange_and_reuse_follows_keep_alive(data: bytes, reused: bool) -> None:
    client = HttpClient()
    async with serving(answer(data)) as server:
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(2):
            assert await asyncio.wait_for(client.post(url, b"a", {}, 5), 10) in (200, 202, 204)
    await client.close()
    assert server.connections == (1 if reused else 2)


async def test_a_deadline_mid_answer_frees_the_slot_and_never_pools_the_half_read_connection() -> None:
    async def half_then_stall(connection: int, request: int, head: bytes) -> bytes | None:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab" if connection == 0 else OK  # then stalls

    client = HttpClient(max_connections=1)
    async with serving(half_then_stall) as server:
        url = f"http://127.0.0.1:{server.port}/"
        with pytest.raises(TimeoutError):
            await client.post(url, b"a", {}, 0.3)
        assert await asyncio.wait_for(client.post(url, b"b", {}, 5), 10) == 200  # the one slot is free again
    await client.close()
    assert server.connections == 2


async def test_bytes_after_the_response_in_the_same_segment_close_the_connection_not_pool_it() -> None:
    client = HttpClient()
    async with serving(answer(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as server:
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(2):
            assert await asyncio.wait_for(client.post(url, b"a", {}, 5), 10) == 200
    await client.close()
    assert server.connections == 2  # the first answer came with an extra one: that connection is out of step


async def test_a_body_read_until_close_ends_with_the_close() -> None:
    client = HttpClient()
    async with serving(answer(b"HTTP/1.1 200 OK\r\n\r\nall of it"), close_after=0) as server:
        assert await asyncio.wait_for(client.post(f"http://127.0.0.1:{server.port}/", b"a", {}, 5), 10) == 200
    await client.close()


async def test_a_redirect_is_returned_not_followed() -> None:
    async with serving(answer(OK)) as target:
        moved = f"HTTP/1.1 307 Moved\r\nLocation: http://127.0.0.1:{target.port}/\r\nContent-Length: 0\r\n\r\n"
        async with serving(answer(moved.encode())) as server:
            client = HttpClient()
            assert await client.post(f"http://127.0.0.1:{server.port}/", b"a", {}, 5) == 307
            await client.close()
    assert target.requests == []


async def test_concurrent_requests_beyond_the_limit_wait_for_a_connection() -> None:
    async def slow(connection: int, request: int, head: bytes) -> bytes | None:
        await asyncio.sleep(0.05)
        return OK

    client = HttpClient(max_connections=2)
    async with serving(slow) as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert await asyncio.gather(*(client.post(url, b"a", {}, 10) for _ in range(6))) == [200] * 6
    await client.close()
    assert server.connections == 2


async def test_a_refused_connection_fails_as_unreachable() -> None:
    async with serving(answer(OK)) as server:
        port = server.port
    client = HttpClient()
    with pytest.raises(ConnectionFailed, match="could not connect"):
        await client.post(f"http://127.0.0.1:{port}/", b"a", {}, 5)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/",
        "http:///path",
        "http://example.org:99999/",
        "https://example.org:0/",
        "mailto:x@y",
        "https://a..b\u00e9/",
    ],
)
def test_unusable_urls_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(UnsendableRequest):
        origin_of(url)


async def test_a_header_with_a_line_break_is_refused_not_sent() -> None:
    async with serving(answer(OK)) as server:
        client = HttpClient()
        with pytest.raises(UnsendableRequest):
            await client.post(f"http://127.0.0.1:{server.port}/", b"a", {"Idempotency-Key": "a\r\nX-Evil: 1"}, 5)
        await client.close()
    assert server.requests == []


_LABELS = st.text(alphabet="abcxyzABC019-\u00df\u03c2\u00fc\u00e9\u00d6\u200d\u0627", min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LABELS, min_size=1, max_size=3))
def test_an_international_host_name_is_encoded_as_aiohttp_did_never_to_another_domain(labels: list[str]) -> None:
    url = f"https://{'.'.join(labels)}/in"
    try:
        expected = yarl.URL(url).raw_host  # aiohttp's client resolved and named the host so (IDNA 2008, UTS 46)
    except (UnicodeError, ValueError):
        return
    try:
        host = origin_of(url).host
    except UnsendableRequest:
        return
    assert host == expected.lower()  # yarl keeps the case of ASCII labels in its IDNA 2003 fallback


@pytest.mark.parametrize(
    ("url", "host"),
    [("https://stra\u00dfe.de/", "xn--strae-oqa.de"), ("https://\u03c3\u03bf\u03bb\u03bf\u03c2.gr/", "xn--wxahbmb.gr")],
)
def test_deviation_characters_keep_their_own_domain(url: str, host: str) -> None:
    assert origin_of(url).host == host  # not IDNA 2003's strasse.de: another registrant's domain


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="abc-", min_size=1, max_size=3), min_size=1, max_size=3),
    st.sampled_from(["", "a" * 64, "a\x00b", "a\x01b", "a\x7fb", "a b"]),
    st.integers(0, 2),
)
def test_a_host_the_resolver_cannot_take_is_refused_as_unsendable(labels: list[str], bad: str, at: int) -> None:
    labels.insert(at % len(labels), bad)  # never last: a trailing empty label is the root's dot, a valid name
    with pytest.raises(UnsendableRequest):
        origin_of(f"https://{'.'.join(labels)}/in")


async def test_a_post_to_a_host_with_an_empty_label_fails_as_unsendable_not_a_unicode_error() -> None:
    with pytest.raises(UnsendableRequest):
        await HttpClient().post("https://hooks..example.org/", b"a", {}, 5)


def test_user_info_in_the_url_becomes_basic_credentials_and_the_host_keeps_its_port() -> None:
    origin = origin_of("https://us%40er:p%3Aw@hooks.example.org:8443/in")
    assert origin.head == "POST /in HTTP/1.1\r\nHost: hooks.example.org:8443\r\nAuthorization: Basic dXNAZXI6cDp3\r\n"
    assert (origin.host, origin.port) == ("hooks.example.org", 8443)
    assert origin_of("http://[::1]/x y").head.startswith("POST /x%20y HTTP/1.1\r\nHost: [::1]\r\n")
    assert origin_of("https://bücher.example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize("password", ["p%C3%A4ss", "p%E2%82%ACss", "plain"])
def test_basic_credentials_are_the_bytes_aiohttp_sent_and_utf8_only_beyond_latin1(password: str) -> None:
    url = f"https://user:{password}@hooks.example.org/in"
    sent = origin_of(url).head.split("Authorization: ")[1].removesuffix("\r\n")
    auth = aiohttp.BasicAuth.from_url(yarl.URL(url))
    assert auth is not None
    try:
        expected = auth.encode()
    except UnicodeEncodeError:  # "€" has no latin-1 byte: aiohttp refused it, we send UTF-8
        expected = aiohttp.encode_basic_auth(auth.login, auth.password, encoding="utf-8")
    assert sent == expected


async def test_tls_verifies_the_server_against_trusted_cas_and_its_name(tmp_path: Path) -> None:
    ca, server_pem = certificates.authority_and_server(tmp_path, "localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(server_pem)
    trusting = ssl.create_default_context(cafile=str(ca))
    async with serving(answer(OK), tls=server_tls) as server:
        https = f"https://localhost:{server.port}/"
        assert await HttpClient(tls=trusting).post(https, b"a", {}, 5) == 200
        with pytest.raises(ConnectionFailed, match="did not verify"):
            await HttpClient().post(https, b"a", {}, 5)  # the system's CAs do not know ours
        with pytest.raises(ConnectionFailed, match="did not verify"):  # trusted CA, but not this address's name
            await HttpClient(tls=trusting).post(f"https://127.0.0.1:{server.port}/", b"a", {}, 5)
        assert await HttpClient(verify_tls=False).post(f"https://127.0.0.1:{server.port}/", b"a", {}, 5) == 200
    assert len(server.requests) == 2


def _resolves(host: str) -> bool:
    try:
        return bool(socket.getaddrinfo(host, 443))
    except OSError:
        return False


async def test_a_fully_qualified_name_with_its_trailing_dot_verifies_against_its_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, server_pem = certificates.authority_and_server(tmp_path, "localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(server_pem)
    resolve = socket.getaddrinfo
    # this machine's resolver may not know "localhost." (the root's dot): the name as any DNS resolver takes it
    if "uvloop" in type(asyncio.get_running_loop()).__module__ and not _resolves("localhost."):
        pytest.skip("uvloop resolves in libuv, past socket.getaddrinfo, and this machine's resolver lacks localhost.")
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *rest, **kw: resolve(host.rstrip("."), *rest, **kw))
    async with serving(answer(OK), tls=server_tls) as server:
        client = HttpClient(tls=ssl.create_default_context(cafile=str(ca)))
        assert await client.post(f"https://localhost.:{server.port}/", b"a", {}, 5) == 200  # as aiohttp, SNI w/o dot
        await client.close()
