"""Ratios between configurations of one run (bench/ratios.py): paired by round, by CPU, of medians."""

from __future__ import annotations

import statistics
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench import ratios

CPU = {"intake": 1.0, "routing": 1.0, "notifier": 2.0, "broker": 9.0, "driver": 1.0, "receiver": 1.0}


def config(throughputs: list[float], cpu: list[dict[str, float]] | None = None) -> dict[str, Any]:
    runs = [
        {"round": i, "throughput_per_s": t, "cpu_ms_per_report": (cpu or [CPU] * len(throughputs))[i]}
        for i, t in enumerate(throughputs)
    ]
    return {"unthrottled": {"runs": runs, "median_throughput_per_s": statistics.median(throughputs)}}


def test_each_round_is_paired_with_the_same_round_and_the_median_of_the_pairs_reported() -> None:
    ours, base = config([100.0, 300.0, 200.0]), config([1000.0, 1000.0, 4000.0])
    found = ratios.compare(ours, base)
    assert found["per_round"] == [0.1, 0.3, 0.05] and found["paired"] == 0.1
    assert found["of_medians"] == 0.2  # 200 ÷ 1000: the median of each, from different rounds


def test_by_cpu_the_baselines_cpu_per_report_is_divided_by_ours_workers_only() -> None:
    ours = config([1.0], [CPU])  # workers 4 ms per report; the broker, driver and receiver left out
    base = config([1.0], [{"worker": 2.0, "broker": 50.0}])
    assert ratios.compare(ours, base)["cpu_per_round"] == [0.5] and ratios.workers_cpu_ms(CPU) == 4.0


def test_a_round_one_side_lacks_is_left_out_and_nothing_measured_gives_nothing() -> None:
    ours = config([100.0, 200.0, 300.0])
    base = {"unthrottled": {"runs": [{"round": 2, "throughput_per_s": 600.0}], "median_throughput_per_s": 600.0}}
    assert ratios.paired(ours, base) == [0.5] and ratios.paired(ours, base, "cpu") == []
    assert ratios.compare(ours, None) == {} and ratios.compare({}, base) == {}


@given(
    st.lists(
        st.tuples(st.floats(10, 5000), st.floats(10, 5000), st.floats(0.2, 5), st.floats(0.5, 20), st.floats(0.5, 20)),
        min_size=1,
        max_size=5,
    )
)
def test_a_slowdown_that_hits_both_configurations_of_a_round_leaves_its_pair_unchanged(
    rounds: list[tuple[float, float, float, float, float]],
) -> None:
    """What pairing is for: a round on a slower host scales both sides' throughput (and CPU per report) alike."""
    steady_ours, steady_base = config([a for a, *_ in rounds]), config([b for _, b, *_ in rounds])
    slowed_ours = config([a * f for a, _, f, *_ in rounds], [{"w": c * f} for *_, f, c, _ in rounds])
    slowed_base = config([b * f for _, b, f, *_ in rounds], [{"w": c2 * f} for *_, f, _, c2 in rounds])
    same_cpu_ours = config([1.0] * len(rounds), [{"w": c} for *_, c, _ in rounds])
    same_cpu_base = config([1.0] * len(rounds), [{"w": c2} for *_, c2 in rounds])
    for got, want in zip(ratios.paired(slowed_ours, slowed_base), ratios.paired(steady_ours, steady_base), strict=True):
        assert abs(got - want) <= 0.0011 * max(1.0, want)  # both rounded to 3 decimals
    for got, want in zip(
        ratios.paired(slowed_ours, slowed_base, "cpu"), ratios.paired(same_cpu_ours, same_cpu_base, "cpu"), strict=True
    ):
        assert abs(got - want) <= 0.0011 * max(1.0, want)
