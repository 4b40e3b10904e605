"""Issue 17's targets from a results dictionary: value, goal, met or not, or not measured (bench/targets.py)."""

from __future__ import annotations

from typing import Any

from bench import targets


def results(**summary: Any) -> dict[str, Any]:
    run = {"lost": 0, "duplicates": 0}
    return {
        "summary": summary,
        "codec": {"ratio_encode": 1.1, "ratio_decode": 0.79, "ratio_decode_v1": 1.0},
        "e2e": {
            "ours": {
                "steps": [{**run, "offered_per_s": 100}, {"offered_per_s": 200, "skipped": "not run: past the knee"}],
                "unthrottled": {"runs": [run, {"lost": 2, "duplicates": 1}]},
                "accounting": {"cpu_ms_per_report": {"intake": 1.5, "routing": 1.0, "broker": 3.0, "driver": 0.2}},
            }
        },
        "priority": {"p1_lost": 0},
    }


def test_each_target_is_met_not_met_or_not_measured() -> None:
    knee, aiokafka, take, tracing, codec, p1, *_ = targets.evaluate(results(knee_per_s=1000, ratio_to_aiokafka=0.4))
    assert knee["met"] is True and knee["value"] == 1000
    assert aiokafka["met"] is False and take["met"] is None
    assert tracing["met"] is None and tracing["value"] is None
    assert codec["met"] is False and codec["value"] == 0.79  # the lowest of the three ratios
    assert p1["met"] is None


def test_cpu_per_report_is_stated_for_the_workers_only() -> None:
    row = next(r for r in targets.evaluate(results()) if r["target"].startswith("CPU"))
    assert row["value"] == {"intake": 1.5, "routing": 1.0} and row["met"] is True


def test_correctness_counts_every_run_and_ignores_steps_not_run() -> None:
    row = targets.evaluate(results())[-1]
    assert row["value"] == {"lost": 2, "duplicates": 1} and row["met"] is False


def test_the_table_says_met_not_met_and_not_measured() -> None:
    text = "\n".join(targets.markdown(targets.evaluate(results(knee_per_s=300))))
    assert "**not met**" in text and "not measured" in text and "**met**" in text
