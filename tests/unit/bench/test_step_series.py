"""A knee step's reports by scheduled second (bench/step_series.py): counts, p99, max, the slow seconds."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from bench.drive import by_second, percentile, summarise
from bench.sink import Arrival
from bench.step_series import slow_seconds


def test_each_report_counts_once_by_its_first_arrival_and_other_runs_are_left_out() -> None:
    arrivals = [
        Arrival(1_100.0, "1000", "k/r700-ab-1", None),
        Arrival(1_900.0, "1000", "k/r700-ab-1", None),  # a duplicate: its first arrival counts
        Arrival(2_500.0, "2000", "k/r700-ab-2", None),
        Arrival(2_600.0, "0", "k/warm-cd-1", None),  # another run's report
    ]
    step = summarise(SimpleNamespace(arrivals=arrivals), "r700-", 2, 1_000.0, series=True)
    assert step["by_second"] == by_second([(1000.0, 100.0), (2000.0, 500.0)])
    assert "by_second" not in summarise(SimpleNamespace(arrivals=arrivals), "r700-", 2, 1_000.0)


def test_a_steps_reports_by_scheduled_second_leave_the_warm_up_out() -> None:
    tag = "r10-ab12cd"  # as drive.fixed_rate tags a step's reports; the warm-up's stay out
    arrivals = [Arrival(1_000.0 + 100 * i + 40, str(1_000 + 100 * i), f"k/{tag}-{i}", None) for i in range(20)]
    arrivals.append(Arrival(1_500.0, "0", "k/warm-ef34ab-1", None))
    step = summarise(SimpleNamespace(arrivals=arrivals), tag, 20, 1_000.0, series=True)
    assert step["by_second"] == {
        "t0_ms": 1000,
        "arrivals": [10, 10],
        "p99_ms": [40.0, 40.0],
        "max_ms": [40.0, 40.0],
    }


def test_a_stall_shows_as_the_seconds_whose_reports_waited() -> None:
    # 10 reports a second for 4 s from t0 = 1,000 ms; those scheduled in the third second wait 800 ms more
    timed = [(1000.0 + 100 * i, 20.0 + (800 if 20 <= i < 30 else 0)) for i in range(40)]
    series = by_second(timed)
    assert series["t0_ms"] == 1000 and series["arrivals"] == [10, 10, 10, 10]
    assert series["max_ms"] == [20.0, 20.0, 820.0, 20.0] and series["p99_ms"] == [20.0, 20.0, 820.0, 20.0]
    assert slow_seconds(series, 500.0) == [("00:00:03", 10, 820.0)]  # 1970-01-01 00:00:03 UTC


def test_a_second_whose_reports_never_arrived_has_no_latency() -> None:
    series = by_second([(0.0, 5.0), (2_500.0, 7.0)])
    assert series["arrivals"] == [1, 0, 1] and series["max_ms"] == [5.0, None, 7.0]
    assert by_second([]) == {"t0_ms": None, "arrivals": [], "p99_ms": [], "max_ms": []}


@given(st.lists(st.tuples(st.floats(0, 60_000), st.floats(0, 5_000)), min_size=1))
def test_the_seconds_hold_every_report_once_and_their_worst_is_the_steps_worst(
    timed: list[tuple[float, float]],
) -> None:
    series = by_second(timed)
    assert sum(series["arrivals"]) == len(timed)
    assert max(m for m in series["max_ms"] if m is not None) == round(max(lat for _, lat in timed), 1)
    t0 = min(sent for sent, _ in timed)
    for i, p99 in enumerate(series["p99_ms"]):
        lat = sorted(lat for sent, lat in timed if int((sent - t0) // 1000) == i)
        assert p99 == (round(percentile(lat, 99), 1) if lat else None)
