"""Polling until a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def poll(check: Callable[[], T], timeout: float, interval: float = 0.3) -> T:
    """Call `check()` until it returns something truthy or the deadline passes; return the last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        await asyncio.sleep(interval)
        value = check()
    return value


async def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """True once `predicate()` holds, False when it still does not at the deadline."""
    return bool(await poll(predicate, timeout, interval=0.2))


async def fetch_until(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, interval: float = 0.5
) -> T:
    """Await `fetch()` until `done(value)` holds or the deadline passes; return the last value fetched."""
    deadline = time.monotonic() + timeout
    value = await fetch()
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(interval)
        value = await fetch()
    return value
