"""Polling until a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
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
