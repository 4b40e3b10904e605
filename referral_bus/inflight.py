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
from collections.abc import Awaitable, Callable, Sequence
from contextvars import Context, ContextVar, copy_context
from dataclasses import dataclass, field
from typing import Any

from referral_bus import logging as rb_logging

log = rb_logging.get_logger()


# A state callback may return the changelog send of the write it made: the event's ack waits for it.
StateCallback = Callable[[], "Awaitable[Any] | None"]


@dataclass(eq=False)
class Pending:
    """One event's unfinished business: its sends, and what to record once they are durable."""

    sends: list[Awaitable[Any]] = field(default_factory=list)
    on_sent: list[StateCallback] = field(default_factory=list)
    on_failed: list[StateCallback] = field(default_factory=list)
    # table keys this event wrote, (id(table), partition, key) → table: one changelog record each when the
    # handler returns (tables.flush_changelog), not one per write
    changelog: dict[tuple[int, int, Any], Any] = field(default_factory=dict)
    flushed: bool = False  # the handler returned: a later write (from a task it started) is sent at once
    # keys whose record waits for the event's sends (tables.hold): a staged write, or `release`, sends it
    held: set[tuple[int, int, Any]] = field(default_factory=set)
    outcome: str = "ok"  # or "dead_lettered"
    started: float = 0.0
    # The context the event was taken in (Faust's current event among it): its state callbacks run in
    # it, so a table write lands in this event's changelog partition whichever event's end drains it.
    context: Context = field(default_factory=copy_context)


# The event being handled in this task (set by the worker shell): its sends are collected here.
current: ContextVar[Pending | None] = ContextVar("referral_bus_pending", default=None)


def after_sends(on_sent: StateCallback, on_failed: StateCallback | None = None) -> None:
    """Run `on_sent` once every send of the current event is on the broker, in the order events arrived.

    State that says "done" (a dedup mark, a correlation claim) must not be recorded before the
    outputs it stands for are durable: a crash in between would make the replay skip them.
    `on_failed` runs instead when a send failed and the event is dead-lettered. Outside an event
    `on_sent` runs at once. A callback that writes a table returns the write's changelog send: the
    event is acknowledged only once it is on the broker.
    """
    pending = current.get()
    if pending is None:
        on_sent()
        return
    pending.on_sent.append(on_sent)
    if on_failed is not None:
        pending.on_failed.append(on_failed)


async def outcomes(sends: Sequence[Awaitable[Any]]) -> list[Any]:
    """`asyncio.gather(*sends, return_exceptions=True)` for futures: each one's result or exception, once all are done.

    Awaited one after the other, without gather's outer future and its callback per send: an event's sends are
    acknowledged together, so the first wake-up usually finds the others done. Cancelled (the worker stops): raises.
    """
    results: list[Any] = []
    for send in sends:
        try:
            results.append(await send)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # this wait is cancelled, not the send: as gather, raise
                raise
            results.append(exc)  # the send's own future was cancelled: its outcome, as gather gives it
        except BaseException as exc:  # noqa: BLE001 - gather's return_exceptions: any exception is an outcome
            results.append(exc)
    return results


@dataclass(eq=False)
class _Entry:
    pending: Pending
    task: asyncio.Future[Any]
    ack: Callable[[], None]
    writes: asyncio.Future[Any] | None = None  # the state callbacks' changelog sends, once they ran


class InFlight:
    """A bounded FIFO of events, acknowledged strictly in order once finished and their state written.

    Correct by construction: callbacks run in the event's own context, in arrival order (so their
    changelog records are queued in that order); an event is acknowledged only when it, its writes and
    every event before it are done; a callback or a write that fails stops acknowledgements and the
    worker (`on_broken`: the event is replayed); when the worker stops, every event not yet written
    runs its `on_failed` callbacks, so nothing stays staged.
    """

    def __init__(self, limit: int, *, on_broken: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self._queue: deque[_Entry] = deque()
        self._written = 0  # entries at the head of the queue whose state callbacks ran
        self._room = asyncio.Event()
        self._room.set()
        self._stopped = False  # stopping: no more state callbacks; written events are still acknowledged
        self._broken = False  # a callback or a write failed: the worker exits, nothing after it is acknowledged
        self._on_broken = on_broken or _exit_for_replay
        self._none: asyncio.Future[Any] | None = None  # finished: shared by the events that wrote nothing

    def __len__(self) -> int:
        """Events not yet acknowledged."""
        return len(self._queue)

    async def wait_for_room(self) -> None:
        """Back-pressure: wait while `limit` events are unacknowledged."""
        while len(self._queue) >= self.limit:
            self._room.clear()
            await self._room.wait()

    def add(self, pending: Pending, task: asyncio.Future[Any], ack: Callable[[], None]) -> None:
        """Track an event whose handling and sends `task` finishes; `ack` releases its offset.

        The events of a batch share one task: one drain when it ends handles them all, so it is
        registered once per task, not once per event.
        """
        if not self._queue or self._queue[-1].task is not task:
            task.add_done_callback(self._drain)
        self._queue.append(_Entry(pending, task, ack))

    def _drain(self, _: object = None) -> None:
        if not self._stopped:
            self._write_finished()
        while self._written and self._queue[0].writes is not None:
            entry = self._queue[0]
            assert entry.writes is not None
            if not entry.writes.done():
                break
            if entry.writes.cancelled():  # the producer is stopping: no ack, the event is replayed
                self._stop()
                break
            if entry.writes.exception() is not None:
                if not self._broken:
                    self._break("state write not acknowledged by the broker", entry.writes.exception())
                break
            self._queue.popleft()
            self._written -= 1
            entry.ack()
        if len(self._queue) < self.limit:
            self._room.set()

    def _write_finished(self) -> None:
        """Run the state callbacks of finished events, in arrival order, up to the first unfinished one.

        The writes of one pass are awaited together (one gather, not one per event): from the first
        event with a write on, each event of the pass is acknowledged once all of them are on the
        broker; the events before it have nothing to wait for.
        """
        group: list[_Entry] = []
        writes: list[Any] = []
        try:
            self._run_callbacks(group, writes)
        finally:
            if group:
                together = asyncio.gather(*writes)
                for entry in group:
                    entry.writes = together
                together.add_done_callback(self._drain)

    def _run_callbacks(self, group: list[_Entry], writes: list[Any]) -> None:
        while self._written < len(self._queue):
            entry = self._queue[self._written]
            if not entry.task.done():
                return
            if entry.task.cancelled():  # stopping: this event and every later one stay unacknowledged
                self._stop()
                return
            if entry.task.exception() is not None:
                self._break("event neither finished nor dead-lettered", entry.task.exception())
                return
            pending = entry.pending
            sends = []
            for callback in pending.on_sent if pending.outcome == "ok" else pending.on_failed:
                try:
                    sent = pending.context.run(callback)
                except Exception as exc:  # noqa: BLE001 - not swallowed: no ack, the worker stops
                    self._break("state update after send failed", exc)
                    return
                if sent is not None:
                    sends.append(sent)
            if sends or group:
                group.append(entry)
                writes.extend(sends)
            else:
                entry.writes = self._nothing()
            self._written += 1

    def _nothing(self) -> asyncio.Future[Any]:
        """A finished future: the writes of an event that wrote nothing."""
        if self._none is None:
            self._none = asyncio.get_running_loop().create_future()
            self._none.set_result(None)
        return self._none

    def _break(self, what: str, exc: BaseException | None) -> None:
        """A bug or a failed write left an event unfinished: no ack for it or any later one; exit for replay."""
        self._stopped = self._broken = True
        log.critical(what, error_type=type(exc).__name__)
        self._on_broken()

    def _stop(self) -> None:
        """Stopping: acknowledge nothing more; every staging not yet written ends as dropped."""
        self._stopped = True
        for entry in list(self._queue)[self._written :]:
            for callback in entry.pending.on_failed:
                try:
                    entry.pending.context.run(callback)
                except Exception as exc:  # noqa: BLE001 - stopping anyway; the event is replayed
                    log.error("state release on stop failed", error_type=type(exc).__name__)
            entry.pending.on_failed.clear()


def _exit_for_replay() -> None:
    """A bug left an event unfinished: exit without committing it, so a restart replays it."""
    os._exit(70)
