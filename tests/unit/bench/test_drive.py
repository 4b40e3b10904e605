"""Counting a run's deliveries (bench/drive.py): per second, the steady window; no driver GC during a step."""

from __future__ import annotations

import gc
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.drive import collector_paused, fixed_rate, per_second, steady_window, summarise
from bench.sink import Arrival


def test_arrivals_are_counted_in_whole_seconds_from_the_start_and_a_partial_last_second_dropped() -> None:
    assert per_second([1000.0, 1999.9, 2000.0, 3500.0, 4200.0], 1000.0, 4100.0) == [2, 1, 1]


@given(st.lists(st.floats(0, 20_000)), st.floats(0, 20_000))
def test_every_arrival_inside_the_whole_seconds_is_counted_once(arrivals: list[float], end: float) -> None:
    counts = per_second(arrivals, 0.0, end)
    assert len(counts) == int(end // 1000)
    assert sum(counts) == sum(1 for t in arrivals if t < 1000 * len(counts))


def _receiver(at_ms: list[float]) -> SimpleNamespace:
    return SimpleNamespace(arrivals=[Arrival(t, "0", f"k/max-1-{i}", None) for i, t in enumerate(at_ms)])


def test_the_steady_window_opens_once_the_opening_burst_has_arrived_and_not_before_the_warm_up() -> None:
    assert steady_window([500.0, 4000.0, 4500.0], 0.0, 10_000.0, 3.0, 2) == 4000.0  # the burst's 2nd: 4 s
    assert steady_window([500.0, 900.0, 4500.0], 0.0, 10_000.0, 3.0, 2) == 3000.0  # burst in by 0.9 s: 3 s
    assert steady_window([500.0], 0.0, 10_000.0, 3.0, 2) == 10_000.0  # never a whole turn


def test_a_closed_runs_throughput_counts_its_steady_window_and_keeps_the_whole_windows_figure() -> None:
    # 10 s run: a slow opening burst (100 arrivals in its first 5 s), then 100 /s; window from 3 s, turn of 100
    at = [50.0 * i for i in range(100)] + [5000.0 + 10.0 * i for i in range(500)]
    out = summarise(_receiver(at), "max-1", 600, 0.0, window=(3000.0, 10_000.0), turn=100)
    assert out["window_from_s"] == 4.95 and out["window_s"] == 5.05  # from the 100th arrival (4,950 ms)
    assert out["throughput_per_s"] == 99.2 and out["throughput_whole_window_per_s"] == 77.1  # 501 ÷ 5.05, 540 ÷ 7
    assert out["per_second"] == [20, 20, 20, 20, 20, 100, 100, 100, 100, 100] and out["lost"] == 0


class _PacedLoad:
    """A load whose sends note whether the driver's garbage collector could run then."""

    seed = 1

    def __init__(self) -> None:
        self.collector_on: list[bool] = []

    def prepare(self, stream: Any, n: int, rate: float) -> tuple[float, list[Any]]:
        return time.time() * 1000, [(b"k", b"v", b"0", None)] * n

    async def send_prepared(self, items: list[Any]) -> list[Any]:
        self.collector_on.append(gc.isenabled())
        return []


async def test_the_driver_never_collects_garbage_while_it_offers_a_step_and_collects_again_after() -> None:
    load = _PacedLoad()
    assert gc.isenabled()
    await fixed_rate(cast(Any, load), cast(Any, SimpleNamespace(arrivals=[])), 2_000.0, 0.05, drain_s=0.1)
    assert load.collector_on and not any(load.collector_on)
    assert gc.isenabled()


def test_a_step_that_fails_leaves_the_collector_as_it_found_it() -> None:
    for before in (True, False):
        (gc.enable if before else gc.disable)()
        try:
            with pytest.raises(RuntimeError), collector_paused():
                assert not gc.isenabled()
                raise RuntimeError("a send failed")
            assert gc.isenabled() is before
        finally:
            gc.enable()
