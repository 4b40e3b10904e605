"""Bounded body reads: at most the limit + 1 bytes, whatever the stream holds."""

from __future__ import annotations

import asyncio

from referral_bus.bodies import read_at_most


def _stream(body: bytes, chunk: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for i in range(0, len(body), chunk):
        reader.feed_data(body[i : i + chunk])
    reader.feed_eof()
    return reader


async def test_read_at_most_returns_bodies_up_to_the_limit() -> None:
    assert await read_at_most(_stream(b"", 1), 10) == b""
    assert await read_at_most(_stream(b"0123456789", 3), 10) == b"0123456789"


async def test_read_at_most_stops_once_past_the_limit() -> None:
    reader = _stream(b"x" * 1000, 7)
    assert await read_at_most(reader, 10) is None
    assert len(await reader.read()) == 1000 - 11  # it read limit + 1 bytes, no more
