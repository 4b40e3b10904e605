"""Urgent work first on one worker: while the urgent lane has an event in hand, other lanes start none.

Separate agents give each priority lane its own handler slots and in-flight budget, but one event loop:
with a standard-lane backlog keeping every slot busy, the loop is shared out evenly among all handlers,
so an urgent referral would get a fraction of it. `Precedence` closes that gap: the urgent lane's
handlers hold it while they run; a handler of another lane waits until none does (at most `max_wait_s`,
so a steady urgent stream slows the other lanes but never stops them). Nothing is dropped or reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Precedence:
    """Counts the urgent lane's events in progress; other lanes wait for a moment with none."""

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s
        self.in_progress = 0
        self.waits = 0  # other lanes' events that waited (for the events summary and tests)
        self._clear: asyncio.Event | None = None  # made on first use: it belongs to the running loop

    def _event(self) -> asyncio.Event:
        if self._clear is None:
            self._clear = asyncio.Event()
            if self.in_progress == 0:
                self._clear.set()
        return self._clear

    @contextlib.asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        """Around one urgent event: the other lanes start nothing new until it (and every other) is done."""
        self.in_progress += 1
        self._event().clear()
        try:
            yield
        finally:
            self.in_progress -= 1
            if self.in_progress == 0:
                self._event().set()

    async def wait_turn(self) -> None:
        """Before one event of another lane: wait while urgent events are in progress (at most `max_wait_s`)."""
        if self.in_progress == 0 or self.max_wait_s <= 0:
            return
        self.waits += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event().wait(), self.max_wait_s)
