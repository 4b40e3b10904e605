"""Bounded HTTP request bodies: read at most a limit whatever Content-Length or chunked encoding says."""

from __future__ import annotations

from typing import Protocol


class BodyReader(Protocol):
    """What `read_at_most` reads from: an aiohttp or asyncio stream reader."""

    async def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes; b"" at the end of the body."""
        ...


async def read_at_most(stream: BodyReader, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds `limit` bytes (never buffers more than limit + 1)."""
    body = bytearray()
    while True:
        chunk = await stream.read(limit + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            return None
