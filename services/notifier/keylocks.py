"""One-at-a-time handling per key within one worker, with no lock left behind for idle keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyLocks:
    """An asyncio lock per key, created on first use and dropped when nobody holds or awaits it.

    The notifier's agents handle up to NOTIFIER_DELIVERY_CONCURRENCY referrals at once, so
    two copies of a referral (a Kafka redelivery, a re-sent escalation, a retry released while the
    previous attempt is still finishing) could otherwise both pass the `deliveries` check before
    either writes it. All copies share the case_id key, hence the partition, hence the worker, so a
    lock in this process is enough.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # key → its lock, how many hold or await it

    def __len__(self) -> int:
        """How many keys have a lock right now (held or awaited)."""
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold `key`'s lock for the body of the `async with`."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
