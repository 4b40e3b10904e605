"""The shape of a run, pure: which knee steps still run, the rotating order of rounds, how long it takes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

KNEE_P99_MS = 500.0  # a knee step passes with p99 under this, nothing lost and the offered rate carried
PAST_KNEE = "not run: past the knee"

# Seconds each phase costs on a quiet 2-core machine (from the 2026-11-30 runs: start_seconds, step drains),
# for the estimate printed at the start of a run; the run records what each phase really took ("timings").
START_STOP_S = {"ours": 20.0, "ours_ledger": 25.0, "baseline": 8.0}
PREPARE_S_PER_REPORT = 0.0003  # generate + encode a knee step's reports, and the wait before its schedule
DRAIN_S = 3.0  # after a passing step or an unthrottled run (in flight ÷ throughput, futures)


def passes(step: dict[str, Any]) -> bool:
    """The knee criterion: nothing lost, the offered rate carried (≥ 90 %), p99 < 500 ms from the scheduled time."""
    if step.get("skipped"):
        return False
    return bool(step["lost"] == 0 and step["sustained"] and step["latency_ms"]["p99"] < KNEE_P99_MS)


def past_knee(steps: Sequence[dict[str, Any]], stop_after: int) -> bool:
    """True once the last `stop_after` steps run all failed: the knee is known, higher rates only show collapse."""
    return len(steps) >= stop_after and not any(passes(s) for s in steps[-stop_after:])


def knee(steps: Sequence[dict[str, Any]]) -> float | None:
    """Highest offered rate that passed (None: none did)."""
    ok = [float(s["offered_per_s"]) for s in steps if passes(s)]
    return max(ok) if ok else None


def rotated(configs: Sequence[str], round_no: int, rounds: int) -> list[str]:
    """Round `round_no`'s order: the list turned by an even share, so each configuration runs early and late."""
    if not configs:
        return []
    shift = (round_no * max(1, len(configs) // max(1, rounds))) % len(configs)
    return [*configs[shift:], *configs[:shift]]


def rounds_of(unthrottled_repeats: int) -> int:
    """Every configuration starts once per round; the knee grid runs in the last round (`knee_round`)."""
    return max(1, unthrottled_repeats)


def knee_round(unthrottled_repeats: int) -> int:
    """The round of the knee grid and the profiles: the last, when the broker has run longest.

    A freshly started broker is slow for minutes (its JVM warms up under load), which failed `ours`' first steps
    when the grid ran in the first round, where `ours` comes first.
    """
    return rounds_of(unthrottled_repeats) - 1


def _start_stop(name: str) -> float:
    if name in START_STOP_S:
        return START_STOP_S[name]
    return START_STOP_S["ours"] if name.startswith("ours") else START_STOP_S["baseline"]


def estimate_seconds(plan: Any) -> dict[str, float]:
    """An upper estimate of each phase of `plan` (a `bench.run.Plan`) on a quiet machine, in seconds.

    The knee grid is counted as if every step ran and passed (a configuration that fails two steps skips the
    rest, which saves more than the failed steps' drains cost: each step at most doubles the rate).
    """
    rounds = rounds_of(plan.unthrottled_repeats)
    steps_s = sum(plan.step_seconds + DRAIN_S + PREPARE_S_PER_REPORT * rate * plan.step_seconds for rate in plan.rates)
    stepped = [c for c in plan.configs if c in plan.stepped]
    unthrottled_s = plan.unthrottled_seconds + DRAIN_S if plan.unthrottled_repeats else 0.0
    prio = plan.priority
    out = {
        "codec": 3.0 + 6 * plan.codec_records * plan.codec_repeats * 100e-6,
        "start_stop": rounds * sum(_start_stop(c) for c in plan.configs),
        "warm_up": rounds * len(plan.configs) * (plan.warm_seconds + DRAIN_S)
        + max(0.0, plan.first_warm_seconds - plan.warm_seconds) * bool(plan.configs),
        "knee_grid": len(stepped) * steps_s,
        "unthrottled": len(plan.configs) * plan.unthrottled_repeats * unthrottled_s,
        "profiles": sum(plan.profile_seconds + 5 for c in plan.configs if c in ("ours", "ours_ledger"))
        if plan.profile_seconds > 0
        else 0.0,
        "priority": (45.0 + prio.backlog * 0.0008 + prio.p1_seconds + 10.0) if prio is not None else 0.0,
        "rules": (10.0 + plan.rules_naive_cases / 1500 + plan.rules_cases / 30000) if plan.rules else 0.0,
    }
    out["total"] = sum(out.values())
    return {k: round(v) for k, v in out.items()}
