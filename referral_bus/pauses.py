"""Pause evidence: event-loop lag and long garbage collections, logged at INFO with numbers and code places only.

`install(service)` (once, on the worker's loop: `task`) starts a `call_at` chain every TICK_S that logs
`event loop late` when it runs LAG_MS or more after its time, with the loop thread's CPU, the process's CPU and
the GC's time over that interval and, when the loop was held long enough for a watcher thread to look, the loop
thread's innermost frames then (file:line function, never a value); and a `gc.callbacks` hook that logs every
full (generation 2) collection, the one that walks every table row, and any other of GC_MS or more. Lines are
written outside any event's context (no case id). Telemetry never raises: each hook swallows its own errors.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from referral_bus import logging as rb_logging

log = rb_logging.get_logger()

TICK_S = 0.1  # the chain's and the watcher's period: 10 wake-ups a second each
LAG_MS = 100.0  # lateness worth a line
GC_MS = 50.0  # a younger generation's collection worth a line (every full collection gets one)
FRAMES = 6  # innermost frames of the held loop thread kept


@dataclass
class Pauses:
    """What the hooks keep between calls (one per process)."""

    service: str
    gc_ms: float = 0.0  # every collection's time so far (the loop-lag line gives the part in its interval)
    gc_started: float = 0.0
    tick: float = 0.0  # monotonic time the chain last ran (the watcher thread's reference)
    held: list[str] | None = None  # the loop thread's frames seen by the watcher during the current lateness
    loop_thread: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"lag": 0, "gc": 0})
    stop: threading.Event = field(default_factory=threading.Event)  # ends the watcher thread (tests)

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """gc.callbacks hook: time each collection; log full ones and long ones."""
        try:
            now = time.perf_counter()
            if phase == "start":
                self.gc_started = now
                return
            ms = (now - self.gc_started) * 1000
            self.gc_ms += ms
            generation = info.get("generation", -1)
            if generation == 2 or ms >= GC_MS:
                self.counts["gc"] += 1
                _line(
                    "garbage collection",
                    service=self.service,
                    generation=generation,
                    pause_ms=round(ms, 1),
                    collected=info.get("collected", 0),
                    older_since_full=gc.get_count()[2],  # collections of generation 1 since the last full one
                    frozen=gc.get_freeze_count(),
                )
        except Exception:  # noqa: BLE001,S110 - telemetry never raises into the collector
            pass

    def late(self, late_s: float, loop_cpu_s: float, cpu_s: float, gc_ms: float) -> None:
        """One `event loop late` line (the watcher's frames, if it saw the loop held)."""
        self.counts["lag"] += 1
        held, self.held = self.held, None
        _line(
            "event loop late",
            service=self.service,
            late_ms=round(late_s * 1000, 1),
            loop_cpu_ms=round(loop_cpu_s * 1000, 1),
            process_cpu_ms=round(cpu_s * 1000, 1),
            gc_ms=round(gc_ms, 1),
            held_at=" < ".join(held) if held else "",
        )

    def look(self) -> None:
        """Watcher thread: while the chain is overdue by LAG_MS, note the loop thread's innermost frames once."""
        while not self.stop.wait(TICK_S):
            try:
                if self.held is None and time.monotonic() - self.tick > TICK_S + LAG_MS / 1000:
                    self.held = frames_of(self.loop_thread)
            except Exception:  # noqa: BLE001,S110 - telemetry never raises
                pass


def _line(message: str, **fields: Any) -> None:
    """An INFO line written in an empty context: no event's bound fields (case id, trace) join it."""
    contextvars.Context().run(log.info, message, **fields)


def frames_of(thread_id: int) -> list[str]:
    """A thread's innermost FRAMES frames as `file:line function` (code places only)."""
    frame = sys._current_frames().get(thread_id)
    out: list[str] = []
    while frame is not None and len(out) < FRAMES:
        code = frame.f_code
        out.append(f"{os.path.basename(code.co_filename)}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return out


def _chain(pauses: Pauses, loop: asyncio.AbstractEventLoop) -> None:
    """Start the call_at chain on `loop`: each run measures how late it ran and schedules the next."""
    state = {"due": loop.time() + TICK_S, "thread": time.thread_time(), "cpu": time.process_time(), "gc": 0.0}

    def tick() -> None:
        try:
            now = loop.time()
            pauses.tick = time.monotonic()
            thread, cpu, gc_ms = time.thread_time(), time.process_time(), pauses.gc_ms
            late, spent = now - state["due"], (thread - state["thread"], cpu - state["cpu"], gc_ms - state["gc"])
            state.update(due=now + TICK_S, thread=thread, cpu=cpu, gc=gc_ms)
            if late * 1000 >= LAG_MS:
                pauses.late(late, *spent)
            else:
                pauses.held = None
        except Exception:  # noqa: BLE001 - telemetry never raises into the loop
            state["due"] = loop.time() + TICK_S
        loop.call_at(state["due"], tick)

    pauses.tick = time.monotonic()
    loop.call_at(state["due"], tick)


def install(service: str, loop: asyncio.AbstractEventLoop | None = None) -> Pauses:
    """Hook the GC and start the lag chain on `loop` (the running one by default) and its watcher thread."""
    loop = loop or asyncio.get_running_loop()
    pauses = Pauses(service, loop_thread=threading.get_ident())
    gc.callbacks.append(pauses.on_gc)
    _chain(pauses, loop)
    threading.Thread(target=pauses.look, name="pause-watcher", daemon=True).start()
    return pauses


def task(service: str) -> Callable[[], Coroutine[Any, Any, None]]:
    """A Faust app task that installs the hooks on the worker's own loop: `app.task(pauses.task(name))`."""

    async def pause_evidence() -> None:
        install(service)

    return pause_evidence
