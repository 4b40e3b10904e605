"""Pause evidence (referral_bus/pauses.py): a held event loop and full collections leave a line; hooks never raise."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from referral_bus import pauses


@pytest.fixture
def installed() -> Iterator[list[pauses.Pauses]]:
    made: list[pauses.Pauses] = []
    yield made
    for p in made:
        p.stop.set()
        if p.on_gc in gc.callbacks:
            gc.callbacks.remove(p.on_gc)


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_a_loop_held_by_a_blocking_call_is_logged_late_with_where_it_was_held(
    installed: list[pauses.Pauses],
) -> None:
    with structlog.testing.capture_logs() as lines:
        installed.append(pauses.install("intake"))
        await asyncio.sleep(0.2)
        time.sleep(0.6)  # blocks the loop: the chain runs ≥ 0.5 s late, the watcher sees this frame
        await asyncio.sleep(0.2)
    late = [line for line in lines if line["event"] == "event loop late"]
    assert late, lines
    held = max(late, key=lambda line: line["late_ms"])  # a busy test machine may add a shorter lateness
    assert held["late_ms"] >= 500 and held["service"] == "intake"
    assert held["loop_cpu_ms"] < held["late_ms"], "a sleeping loop thread spends no CPU"
    assert "test_pauses.py" in held["held_at"] and "test_a_loop_held_by" in held["held_at"]


async def test_a_loop_held_by_its_own_work_shows_that_work_as_loop_cpu(installed: list[pauses.Pauses]) -> None:
    with structlog.testing.capture_logs() as lines:
        installed.append(pauses.install("routing"))
        await asyncio.sleep(0.1)
        _spin(0.4)
        await asyncio.sleep(0.2)
    late = [line for line in lines if line["event"] == "event loop late"]
    assert late and max(line["loop_cpu_ms"] for line in late) >= 300, lines


async def test_no_line_while_the_loop_is_later_than_its_tick_by_less_than_the_threshold(
    installed: list[pauses.Pauses], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pauses, "LAG_MS", 5_000.0)
    with structlog.testing.capture_logs() as lines:
        installed.append(pauses.install("notifier"))
        await asyncio.sleep(0.1)
        time.sleep(0.3)
        await asyncio.sleep(0.2)
    assert not [line for line in lines if line["event"] == "event loop late"]
    assert installed[0].counts["lag"] == 0


@pytest.mark.parametrize(("gc_ms", "logged_generations"), [(1e9, [2]), (0.0, [0, 1, 2])])
def test_every_full_collection_is_logged_and_the_others_from_gc_ms_on(
    monkeypatch: pytest.MonkeyPatch, gc_ms: float, logged_generations: list[int]
) -> None:
    monkeypatch.setattr(pauses, "GC_MS", gc_ms)
    p = pauses.Pauses("intake")
    gc.callbacks.append(p.on_gc)
    token = structlog.contextvars.bind_contextvars(case_id="case-1")  # an event's context: kept out of the lines
    try:
        with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
            gc.collect(0)
            gc.collect(1)
            gc.collect(2)
    finally:
        gc.callbacks.remove(p.on_gc)
        structlog.contextvars.reset_contextvars(**token)
    logged = [line for line in lines if line["event"] == "garbage collection"]
    assert [line["generation"] for line in logged] == logged_generations
    assert logged[-1]["pause_ms"] >= 0 and p.gc_ms >= logged[-1]["pause_ms"]
    assert logged[-1]["older_since_full"] == 0 and not any("case_id" in line for line in logged)


async def test_a_failing_log_never_reaches_the_collector_or_stops_the_chain(
    installed: list[pauses.Pauses], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def broken(message: str, **fields: Any) -> None:
        calls.append(message)
        raise RuntimeError(message)

    monkeypatch.setattr(pauses, "log", SimpleNamespace(info=broken))
    installed.append(p := pauses.install("intake"))
    gc.collect()  # the GC hook's line raises inside: swallowed
    await asyncio.sleep(0.1)
    time.sleep(0.3)
    await asyncio.sleep(0.1)
    time.sleep(0.3)  # a second lateness: the chain went on after the first line failed
    await asyncio.sleep(0.1)
    # at least the two held loops (a busy machine or the full collection may hold it once more)
    assert calls.count("event loop late") >= 2 and "garbage collection" in calls
    assert p.counts["lag"] == calls.count("event loop late")
