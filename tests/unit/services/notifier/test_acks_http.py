"""The ack endpoint's pure parts: which tokens are configured, bounded body reads, acceptable ids."""

from __future__ import annotations

import asyncio

from services.notifier.acks import REFERRAL_ID, ack_tokens, read_at_most


def test_ack_tokens_leaves_out_unconfigured_recipients() -> None:
    configured = {"ack-token-hotline": "tok-1", "ack-token-police": "", "webhook-hotline": "key"}
    tokens = ack_tokens(["hotline", "police", "ngo"], configured.get)
    assert tokens == {"hotline": "tok-1"}


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


def test_referral_id_pattern() -> None:
    for ok in ("r-1", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c:d", "x" * 128):
        assert REFERRAL_ID.match(ok)
    for bad in ("", "x" * 129, "r/1", "r 1", "r%2F1", "../etc"):
        assert not REFERRAL_ID.match(bad)
