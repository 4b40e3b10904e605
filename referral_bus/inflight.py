"""Events handed to handlers but not yet acknowledged: acknowledged strictly in arrival order.

Why: awaiting the broker's acknowledgement of every send before reading the next event costs one
round trip per message. Instead an event's sends are collected (`Pending`) and awaited together in
the background while the next events are handled; `InFlight` acknowledges an event only when it
and every event before it are finished, so the committed offset never passes unfinished work
(at-least-once), whatever order the background waits end in. No Kafka here: the worker shell
passes the acknowledgement as a callable.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import Context, ContextVar, copy_context
from dataclasses import dataclass, field
from typing import Any

from referral_bus import logging as rb_logging

log = rb_logging.get_logger()


@dataclass(eq=False)
class Pending:
    """One event's unfinished business: its sends, and what to record once they are durable."""

    sends: list[Awaitable[Any]] = field(default_factory=list)
    on_sent: list[Callable[[], None]] = field(default_factory=list)
    on_failed: list[Callable[[], None]] = field(default_factory=list)
    outcome: str = "ok"  # or "dead_lettered"
    started: float = 0.0
    # The context the event was taken in (Faust's current event among it): its state callbacks run in
    # it, so a table write lands in this event's changelog partition whichever event's end drains it.
    context: Context = field(default_factory=copy_context)


# The event being handled in this task (set by the worker shell): its sends are collected here.
current: ContextVar[Pending | None] = ContextVar("referral_bus_pending", default=None)


def after_sends(on_sent: Callable[[], None], on_failed: Callable[[], None] | None = None) -> None:
    """Run `on_sent` once every send of the current event is on the broker, in the order events arrived.

    State that says "done" (a dedup mark, a correlation claim) must not be recorded before the
    outputs it stands for are durable: a crash in between would make the replay skip them.
    `on_failed` runs instead when a send failed and the event is dead-lettered. Outside an event
    `on_sent` runs at once.
    """
    pending = current.get()
    if pending is None:
        on_sent()
        return
    pending.on_sent.append(on_sent)
    if on_failed is not None:
        pending.on_failed.append(on_failed)


class InFlight:
    """A bounded FIFO of (pending, task, ack); heads whose task finished are acknowledged in order."""

    def __init__(self, limit: int, *, on_broken: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self._queue: deque[tuple[Pending, asyncio.Future[Any], Callable[[], None]]] = deque()
        self._room = asyncio.Event()
        self._room.set()
        self._stopped = False
        self._on_broken = on_broken or _exit_for_replay

    def __len__(self) -> int:
        """Events not yet acknowledged."""
        return len(self._queue)

    async def wait_for_room(self) -> None:
        """Back-pressure: wait while `limit` events are unacknowledged."""
        while len(self._queue) >= self.limit:
            self._room.clear()
            await self._room.wait()

    def add(self, pending: Pending, task: asyncio.Future[Any], ack: Callable[[], None]) -> None:
        """Track an event whose handling and sends `task` finishes; `ack` releases its offset."""
        self._queue.append((pending, task, ack))
        task.add_done_callback(self._drain)

    def _drain(self, _: object = None) -> None:
        while self._queue and not self._stopped and self._queue[0][1].done():
            pending, task, ack = self._queue[0]
            if task.cancelled():  # stopping: this event and every later one stay unacknowledged
                self._stopped = True
                break
            if task.exception() is not None:
                self._stopped = True
                log.critical("event neither finished nor dead-lettered", error_type=type(task.exception()).__name__)
                self._on_broken()
                break
            self._queue.popleft()
            for callback in pending.on_sent if pending.outcome == "ok" else pending.on_failed:
                try:
                    pending.context.run(callback)
                except Exception as exc:  # noqa: BLE001 - the outputs are out; at worst a later duplicate
                    log.error("state update after send failed", error_type=type(exc).__name__)
            ack()
        if len(self._queue) < self.limit:
            self._room.set()


def _exit_for_replay() -> None:
    """A bug left an event unfinished: exit without committing it, so a restart replays it."""
    os._exit(70)
