"""The shape of a benchmark run: the knee walk, the rotating order, the estimate (bench/schedule.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench import schedule
from bench.run import Plan


def step(rate: float, p99: float, *, lost: int = 0, sustained: bool = True) -> dict[str, Any]:
    return {"offered_per_s": rate, "lost": lost, "sustained": sustained, "latency_ms": {"p99": p99}}


def test_a_step_passes_only_with_p99_under_500_nothing_lost_and_the_rate_carried() -> None:
    assert schedule.passes(step(100, 499.9))
    assert not schedule.passes(step(100, 500))
    assert not schedule.passes(step(100, 10, lost=1))
    assert not schedule.passes(step(100, 10, sustained=False))
    assert not schedule.passes({"offered_per_s": 100, "skipped": schedule.PAST_KNEE})


def test_the_grid_stops_after_two_failing_steps_in_a_row_not_after_one() -> None:
    assert not schedule.past_knee([step(100, 50), step(200, 900)], 2)
    assert not schedule.past_knee([step(100, 50), step(200, 900), step(300, 50)], 2)
    assert schedule.past_knee([step(100, 50), step(200, 900), step(300, 1200)], 2)
    assert not schedule.past_knee([step(100, 900)], 2)


@given(st.lists(st.booleans(), max_size=12), st.integers(1, 4))
def test_past_knee_is_exactly_the_last_n_steps_failing(outcomes: list[bool], n: int) -> None:
    steps = [step(100 * (i + 1), 50 if ok else 900) for i, ok in enumerate(outcomes)]
    assert schedule.past_knee(steps, n) == (len(outcomes) >= n and not any(outcomes[-n:]))


@given(st.lists(st.tuples(st.integers(1, 3000), st.booleans()), max_size=10))
def test_the_knee_is_the_highest_passing_rate(grid: list[tuple[int, bool]]) -> None:
    steps = [step(rate, 50 if ok else 900) for rate, ok in grid]
    passing = [rate for rate, ok in grid if ok]
    assert schedule.knee(steps) == (max(passing) if passing else None)


@given(st.lists(st.text(min_size=1), min_size=1, max_size=10, unique=True), st.integers(1, 6))
def test_every_round_runs_every_configuration_once(configs: list[str], rounds: int) -> None:
    orders = [schedule.rotated(configs, r, rounds) for r in range(rounds)]
    assert all(sorted(o) == sorted(configs) for o in orders)
    assert orders[0] == configs
    if rounds > 1 and len(configs) > 1:  # the first configuration does not stay first
        assert orders[1][0] != configs[0]


@given(st.integers(0, 6))
def test_the_knee_grid_runs_once_in_the_last_round_when_the_broker_has_run_longest(repeats: int) -> None:
    rounds = range(schedule.rounds_of(repeats))
    assert [r for r in rounds if r == schedule.knee_round(repeats)] == [rounds[-1]]


def test_the_full_plan_has_three_rounds_and_fits_about_half_an_hour() -> None:
    plan = Plan()
    assert schedule.rounds_of(plan.unthrottled_repeats) == 3 and plan.step_seconds >= 30
    estimate = schedule.estimate_seconds(plan)
    assert set(estimate) >= {"knee_grid", "unthrottled", "start_stop", "priority", "total"}
    # an upper estimate (ten configurations: ≈ 42 min); the nine before ours_sampled ran in 28 min (14:29, 5 Dec)
    assert 25 * 60 <= estimate["total"] <= 45 * 60, estimate
