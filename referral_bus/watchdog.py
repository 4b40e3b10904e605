"""Stall watchdog: a worker that has work but makes no progress exits, so its supervisor restarts it.

Why: Faust/aiokafka can end up, after the broker or the group coordinator went away, in a state
where the worker is connected and holds partitions with records waiting, yet nothing reaches the
agents any more (flow left stopped by a recovery cut short by a rebalance, a fetcher or producer
waiting forever). No in-process restart of those parts is safe; a fresh process is. A restart keeps
at-least-once: Faust commits only acknowledged offsets (and faust_patches holds the commit at any
unacknowledged head), so the new process replays from the last commit and the dedup tables absorb
the replays.

Rule: the worker is stalled when, for `stall_timeout_seconds` (`<PREFIX>_STALL_TIMEOUT_SECONDS`,
0 = off), none of its assigned partitions' read or committed offsets moved, while

* the broker answers a fresh client (an outage is not this worker's fault; a restart cannot help), and
* at least one assigned stream partition has records beyond the worker's position (end offset, asked
  of the broker by that fresh client, above the committed/read position).

Then the worker logs why and exits with EXIT_STALLED; Kubernetes (or the fault harness's
`Stack.supervise`) starts it again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from referral_bus import logging as rb_logging
from referral_bus.kafka import client_kwargs, committed_offset, read_offset
from referral_bus.settings import KafkaSettings

log = rb_logging.get_logger()

EXIT_STALLED = 70  # EX_SOFTWARE: an internal state we cannot leave from inside the process
CHECK_TIMEOUT_S = 15.0

Position = tuple[int | None, int | None]  # (read offset, committed offset) of one partition


def position_of(read: int | None, committed: int | None) -> int:
    """The first offset of a partition not yet known to be done: the committed offset (0 before any commit).

    Not the read offset: records read into a stream's buffer but never acknowledged (an agent stuck
    on a send that never resolves) are work waiting, and so is a commit held at a record that was
    never acknowledged; a fresh process replays both from the commit.
    """
    return committed if committed is not None else 0


def behind(positions: Mapping[Any, Position], end_offsets: Mapping[Any, int]) -> dict[Any, int]:
    """Partitions with records beyond the worker's position, and how many."""
    out = {}
    for tp, (read, committed) in positions.items():
        end = end_offsets.get(tp)
        if end is not None and end > position_of(read, committed):
            out[tp] = end - position_of(read, committed)
    return out


@dataclass
class Progress:
    """When the worker's offsets last moved (pure: the clock and the offsets are passed in)."""

    timeout: float
    fingerprint: tuple[Any, ...] | None = None
    since: float = field(default_factory=time.monotonic)

    def observe(self, positions: Mapping[Any, Position], now: float) -> float:
        """Record the current offsets; return for how long they have not changed."""
        fp = tuple(sorted((str(tp), p) for tp, p in positions.items()))
        if fp != self.fingerprint:
            self.fingerprint, self.since = fp, now
        return now - self.since

    def reset(self, now: float) -> None:
        """Start a new window (after a check that found the worker fine)."""
        self.since = now


async def broker_end_offsets(kafka: KafkaSettings, partitions: list[Any], timeout: float = CHECK_TIMEOUT_S) -> Any:
    """End offsets from a fresh client (not the worker's own, which may be the stuck part)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    consumer = AIOKafkaConsumer(
        **client_kwargs(kafka), enable_auto_commit=False, request_timeout_ms=int(timeout * 1000)
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout)
        tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        ends = await asyncio.wait_for(consumer.end_offsets(tps), timeout)
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}
    finally:
        try:
            await consumer.stop()
        except Exception:  # noqa: BLE001,S110 - closing a client that may never have connected
            pass


class Watchdog:
    """Checks one Faust app's consumer every `interval` seconds; exits the process when it is stalled."""

    def __init__(
        self,
        app: Any,
        kafka: KafkaSettings,
        timeout: float,
        *,
        service: str,
        exit: Callable[[int], Any] = os._exit,
    ) -> None:
        self.app = app
        self.kafka = kafka
        self.timeout = timeout
        self.service = service
        self.progress = Progress(timeout)
        self._exit = exit

    @property
    def interval(self) -> float:
        """How often to look: often enough to act within about a quarter of the timeout."""
        return max(1.0, min(10.0, self.timeout / 4))

    def positions(self) -> tuple[dict[Any, Position], set[str]]:
        """(read, committed) offsets of every assigned partition, and the table changelog topics among them.

        Changelog partitions count as progress (table recovery reads them) but never as work
        waiting: after recovery they stay paused while the worker itself writes to them.
        """
        consumer = self.app.consumer
        changelogs = set(getattr(self.app.tables, "changelog_topics", ()) or ())
        out = {tp: (read_offset(consumer, tp), committed_offset(consumer, tp)) for tp in consumer.assignment()}
        return out, changelogs

    async def check(self, now: float | None = None) -> bool:
        """One look; True when the worker is stalled (and, outside tests, the process has exited)."""
        now = time.monotonic() if now is None else now
        positions, changelogs = self.positions()
        idle = self.progress.observe(positions, now)
        streams = {(tp.topic, tp.partition): p for tp, p in positions.items() if tp.topic not in changelogs}
        if not streams or idle < self.timeout:
            return False
        try:
            ends = await broker_end_offsets(self.kafka, [tp for tp in positions if tp.topic not in changelogs])
        except Exception as exc:  # noqa: BLE001 - broker unreachable: not this worker's fault
            log.warning("no progress, broker not answering; waiting", idle_s=round(idle), error=type(exc).__name__)
            self.progress.reset(now)  # the worker gets a full window once the broker is back
            return False
        lagging = behind(streams, ends)
        if not lagging:
            self.progress.reset(now)  # idle because there is nothing to do
            return False
        log.critical(
            "worker stalled: records waiting on assigned partitions and no progress; exiting for a restart",
            service=self.service,
            idle_s=round(idle),
            partitions=", ".join(f"{t}:{p}+{n}" for (t, p), n in sorted(lagging.items())),
            exit_code=EXIT_STALLED,
        )
        self._exit(EXIT_STALLED)
        return True

    def install(self) -> None:
        """Run `check` on a Faust timer of this app (no-op when the timeout is 0)."""
        if self.timeout <= 0:
            return

        async def stall_watchdog() -> None:
            try:
                await self.check()
            except Exception as exc:  # noqa: BLE001 - the watchdog must never stop the worker itself
                log.error("stall watchdog check failed", error=type(exc).__name__)

        self.app.timer(self.interval, name=f"{self.service}-stall-watchdog")(stall_watchdog)
