"""The bench's webhook receiver (bench/sink.py): reports named from their bytes as JSON would, over real HTTP/1.1."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from hypothesis import example, given
from hypothesis import strategies as st

from bench.sink import Receiver, report_of
from services.notifier.http_client import HttpClient

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ['"report_id":"x"', ',"received_at":1}', '\\"report_id\\":\\"', '{"received_at":', "a\\", '"', "\n"]
)
_KEYS = st.sampled_from(["report_id", "received_at", "case", "report", "x", 'x"report_id', "received_at\\"]) | _TEXT
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A notifier-like document: `case.report` holds the id and time, anything else may be anywhere around them."""
    report = draw(st.dictionaries(_KEYS, _VALUES, max_size=4))
    report["report_id"] = draw(_TEXT)
    report["received_at"] = draw(st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False))
    case = draw(st.dictionaries(_KEYS, _VALUES, max_size=3)) | {"report": report}
    return draw(st.dictionaries(_KEYS, _VALUES, max_size=3)) | {"case": case}


def _encodings(doc: dict[str, Any]) -> list[bytes]:
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return [canonical, json.dumps(doc).encode(), json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()]


@given(documents())
@example({"case": {"report": {"report_id": "r-1", "received_at": 17, "x": {"report_id": "other"}}}})
@example({"a": {"report_id": "decoy", "received_at": 1}, "case": {"report": {"report_id": "r-1", "received_at": 17}}})
@example({"case": {"report": {"report_id": 'a"b\\c', "received_at": 17}}})
@example({"case": {"report": {"report_id": "r", "received_at": 1.5}}, '"report_id":"x"': 1})
@example({"case": {"report": {"report_id": "Hà Nội", "received_at": -0}}})
def test_a_report_is_named_from_its_bytes_exactly_as_from_its_parsed_json(doc: dict[str, Any]) -> None:
    for body in _encodings(doc):
        report = json.loads(body)["case"]["report"]
        assert report_of(body) == (report["report_id"], float(report["received_at"]))


def test_the_bytes_search_names_the_notifiers_compact_document_without_parsing_it() -> None:
    body = b'{"case":{"report":{"narrative":"\\"report_id\\":\\"no\\"","received_at":1733,"report_id":"r-9"}}}'
    assert report_of(body) == ("r-9", 1733.0)
    assert report_of(body.replace(b"1733", b"1733.0")) == ("r-9", 1733.0)  # parsed: not an integer


async def _request(port: int, raw: bytes, answers: int) -> list[bytes]:
    """Write `raw` in small pieces on one connection; the `answers` status lines that come back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(0, len(raw), 7):
        writer.write(raw[i : i + 7])
        await writer.drain()
    lines = []
    for _ in range(answers):
        lines.append(await reader.readline())
        while await reader.readline() != b"\r\n":
            pass
    writer.close()
    return lines


def _post(path: str, body: bytes, headers: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def test_pipelined_requests_in_pieces_are_answered_in_order_and_each_post_arrives_once() -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        doc = b'{"case":{"report":{"received_at":5,"report_id":"r-1"}}}'
        raw = (
            _post("/agencies/a", doc)
            + _post("/elsewhere", b"{}")
            + b"GET /agencies/a HTTP/1.1\r\nHost: x\r\n\r\n"
            + _post("/agencies/b", b"", "X-Bench-Sent-Ms: 7\r\nX-Bench-Key: k/r-2\r\n")
        )
        lines = await _request(receiver.port, raw, 4)
        assert lines == [b"HTTP/1.1 200 OK\r\n", *[b"HTTP/1.1 404 Not Found\r\n"] * 2, b"HTTP/1.1 200 OK\r\n"]
        assert [a.identify() for a in receiver.arrivals] == [("r-1", 5.0), ("r-2", 7.0)]
        assert await _request(receiver.port, b"NOT HTTP\r\n\r\n", 1) == [b"HTTP/1.1 400 Bad Request\r\n"]
    finally:
        await receiver.stop()


async def test_the_slow_recipient_is_answered_late_and_the_next_request_on_its_connection_after_it() -> None:
    receiver = Receiver(slow=("slow", 300.0))
    await receiver.start()
    try:
        t0 = time.time() * 1000
        raw = _post("/agencies/slow", b"", "X-Bench-Sent-Ms: 1\r\nX-Bench-Key: k/s\r\n")
        raw += _post("/agencies/fast", b"", "X-Bench-Sent-Ms: 2\r\nX-Bench-Key: k/f\r\n")
        assert await _request(receiver.port, raw, 2) == [b"HTTP/1.1 200 OK\r\n"] * 2
        assert [a.key for a in receiver.arrivals] == ["k/s", "k/f"]
        assert receiver.arrivals[0].at_ms - t0 >= 300
    finally:
        await receiver.stop()


async def test_the_notifiers_client_and_aiohttps_keep_their_connection_across_posts() -> None:
    receiver = Receiver()
    await receiver.start()
    client, session = HttpClient(verify_tls=False), aiohttp.ClientSession()
    try:
        url = f"{receiver.base_url}/r"
        for i in range(3):
            body = json.dumps({"case": {"report": {"report_id": f"n-{i}", "received_at": i}}}).encode()
            assert await client.post(url, body, {"Content-Type": "application/json"}, 5.0) == 200
            headers = {"X-Bench-Sent-Ms": str(i), "X-Bench-Key": f"k/a-{i}"}
            async with session.post(url, data=b"x" * 5000, headers=headers) as response:
                assert response.status == 200 and await response.read() == b""
        assert session.connector is not None
        assert len(client._open) == 1 and len(session.connector._conns) == 1  # one connection each
        assert [a.identify()[0] for a in receiver.arrivals] == [f"{p}-{i}" for i in range(3) for p in "na"]
    finally:
        await client.close()
        await session.close()
        await receiver.stop()
