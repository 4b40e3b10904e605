"""The response parser: any well-formed response in any pieces gives its status, framing and keep-alive; hostile bytes
give `MalformedResponse` (never another exception, never unbounded buffering)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.http_response import MalformedResponse, ResponseParser

_NAMES = st.sampled_from(["Content-Type", "Date", "Server", "X-Request-Id", "Cache-Control", "Vary"])
_VALUES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ;=/-,.", max_size=40).map(str.strip)


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, int, bool, int]:
    """(bytes, status, keep-alive expected, body length) of a well-formed response, its framing drawn."""
    status = draw(st.sampled_from([200, 201, 202, 204, 301, 302, 400, 404, 408, 425, 429, 500, 502, 503, 599]))
    version = draw(st.sampled_from(["1.1", "1.1", "1.0"]))
    reason = draw(st.sampled_from(["", " ", " OK", " Service Unavailable", " whatever it says"]))
    body = draw(st.binary(max_size=300)) if status != 204 else b""
    framing = draw(st.sampled_from(["length", "chunked", "close"])) if status != 204 else "none"
    close = draw(st.booleans())
    headers = [f"{n}: {v}" for n, v in draw(st.lists(st.tuples(_NAMES, _VALUES), max_size=5))]
    interim = draw(
        st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"])
    )
    if close:
        headers.append("Connection: close")
    if framing == "length":
        headers.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        headers.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        ext = draw(st.sampled_from(["", ";name=value"]))
        trailer = draw(st.sampled_from(["", "X-Trailer: 1\r\n"]))
        payload = (
            b"".join(f"{len(p):x}{ext}\r\n".encode() + p + b"\r\n" for p in pieces) + f"0\r\n{trailer}\r\n".encode()
        )
    else:
        payload = body
    head = f"HTTP/{version} {status}{reason}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
    keep_alive = version == "1.1" and not close and framing in ("length", "chunked", "none")
    return interim + head.encode() + payload, status, keep_alive, len(body)


def _feed(data: bytes, cuts: list[int], parser: ResponseParser) -> None:
    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
        if b > a:
            parser.feed(data[a:b])


@settings(max_examples=400, deadline=None)
@given(responses(), st.lists(st.integers(0, 2000), max_size=8))
def test_a_well_formed_response_in_any_pieces_gives_its_status_framing_and_keep_alive(
    response: tuple[bytes, int, bool, int], cuts: list[int]
) -> None:
    data, status, keep_alive, body_length = response
    parser = ResponseParser()
    _feed(data, sorted(c for c in cuts if c <= len(data)), parser)
    if not parser.done:  # only a body read until close needs the close
        parser.eof()
    assert (parser.done, parser.status, parser.keep_alive, parser.body_bytes) == (True, status, keep_alive, body_length)


@settings(max_examples=200, deadline=None)
@given(responses(), st.integers(1, 400))
def test_the_response_ends_exactly_where_its_framing_says_and_eof_before_that_is_malformed(
    response: tuple[bytes, int, bool, int], short: int
) -> None:
    data, _, keep_alive, _ = response
    parser = ResponseParser()
    parser.feed(data[: max(0, len(data) - short)])
    if keep_alive:  # self-delimited: not done before its last byte, a close there is an early close
        assert not parser.done
        with pytest.raises(MalformedResponse):
            parser.eof()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_arbitrary_bytes_raise_only_malformed_response_and_the_same_in_any_pieces(data: bytes, cuts: list[int]) -> None:
    def outcome(pieces: list[int]) -> tuple[object, ...]:
        parser = ResponseParser(head_limit=200, body_limit=100)
        try:
            _feed(data, pieces, parser)
            parser.eof()
        except MalformedResponse:
            return ("malformed",)
        return (parser.done, parser.status, parser.keep_alive, parser.body_bytes)

    assert outcome(sorted(c for c in cuts if c <= len(data))) == outcome([])


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 600 Nope\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: 1\r\n  folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
    ],
)
def test_off_grammar_responses_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedResponse):
        ResponseParser().feed(data)


def test_a_head_without_end_is_refused_once_over_the_limit_without_buffering_the_rest() -> None:
    parser = ResponseParser(head_limit=1000)
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(MalformedResponse, match="larger than 1000"):
        for _ in range(1000):
            parser.feed(b"X-Filler: " + b"a" * 90 + b"\r\n")


@pytest.mark.parametrize(
    ("head", "endless", "what"),
    [
        (b"", b"HTTP/1.1 100 Continue\r\n\r\n", "interim answers"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", b"X-Trailer: 1\r\n", "trailers"),
    ],
)
def test_endless_interim_answers_or_trailers_are_refused_once_over_the_head_limit_in_all(
    head: bytes, endless: bytes, what: str
) -> None:
    parser = ResponseParser(head_limit=1000)
    parser.feed(head)
    fed = 0
    with pytest.raises(MalformedResponse, match=f"{what} larger than 1000 bytes in all"):
        while fed <= 2000:
            parser.feed(endless)
            fed += len(endless)
    assert fed <= 1000 + len(endless)


def test_an_endless_chunk_size_line_is_refused() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(MalformedResponse, match="line longer"):
        for _ in range(100):
            parser.feed(b"0" * 100)


def test_a_body_over_the_limit_stops_the_read_and_the_connection_is_not_reused() -> None:
    parser = ResponseParser(body_limit=10)
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 11)
    assert parser.done and parser.status == 200 and not parser.keep_alive


def test_bytes_after_the_response_make_the_connection_unusable() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert parser.done and parser.keep_alive
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    assert not parser.keep_alive


def test_a_transfer_coding_not_ending_in_chunked_is_read_until_close() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdef")
    assert not parser.done
    parser.eof()
    assert parser.done and parser.body_bytes == 6 and not parser.keep_alive


@settings(max_examples=300, deadline=None)
@given(responses(), st.binary(min_size=1, max_size=60), st.lists(st.integers(0, 2000), max_size=4))
def test_bytes_after_a_self_delimited_response_in_the_same_piece_make_the_connection_unusable(
    response: tuple[bytes, int, bool, int], extra: bytes, cuts: list[int]
) -> None:
    data, status, keep_alive, _ = response
    parser = ResponseParser()
    _feed(data + extra, sorted(c for c in cuts if c <= len(data) + len(extra)), parser)
    if keep_alive:  # self-delimited: done at its last byte; what follows (any piece) puts the connection out of step
        assert parser.done and parser.status == status and not parser.keep_alive


@pytest.mark.parametrize("state_line", [b"", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"])
def test_a_head_or_trailer_trickled_byte_by_byte_is_scanned_once_not_once_a_byte(
    state_line: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = ResponseParser()
    parser.feed(state_line)
    steps = 0
    step = ResponseParser._step

    def counted(self: ResponseParser, data: bytes) -> bytes:
        nonlocal steps
        steps += 1
        return step(self, data)

    monkeypatch.setattr(ResponseParser, "_step", counted)
    data = (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" if not state_line else b"") + b"X: " + b"a" * 20_000
    for i in range(len(data)):  # a server trickling its answer: each byte rescanned with all before was quadratic
        parser.feed(data[i : i + 1])
    parser.feed(b"\r\n\r\n")
    assert parser.done and parser.status == 200 and steps < 10
