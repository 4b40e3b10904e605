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
    rows = targets.evaluate(results(knee_per_s=1000, ratio_to_aiokafka=0.4))
    knee, aiokafka, aiokafka_cpu, take, _, tracing, _, sampled, codec, p1, *_ = rows
    assert knee["met"] is True and knee["value"] == 1000
    assert aiokafka["met"] is False and take["met"] is None and aiokafka_cpu["met"] is None
    assert tracing["met"] is None and tracing["value"] is None and sampled["met"] is None  # not measured
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


def test_a_ratio_target_is_the_median_of_per_round_pairs_with_the_ratio_of_medians_beside_it() -> None:
    summary = {
        "ratio_to_faust_take": 0.9,  # of medians: below the goal
        "ratio_to_faust_take_paired": 1.1,
        "ratio_to_faust_take_per_round": [1.2, 1.1, 0.8],
        "ratio_to_faust_take_cpu_paired": 0.45,
        "ratio_to_faust_take_cpu_per_round": [0.44, 0.45, 0.46],
    }
    rows = targets.evaluate(results(**summary))
    i = next(i for i, r in enumerate(rows) if "stream.take" in r["target"])
    take, by_cpu = rows[i], rows[i + 1]  # the secondary row follows its target
    assert take["value"] == 1.1 and take["met"] is True and "median of per-round pairs" in take["target"]
    assert take["note"] == "per round 1.2, 1.1, 0.8; ratio of medians 0.9"
    assert by_cpu["target"].startswith("secondary, by CPU") and "not the issue's definition" in by_cpu["target"]
    assert by_cpu["value"] == 0.45 and by_cpu["met"] is False and by_cpu["note"] == "per round 0.44, 0.45, 0.46"


def test_without_pairs_a_ratio_target_falls_back_to_the_ratio_of_medians_and_says_so() -> None:
    row = next(r for r in targets.evaluate(results(ratio_to_aiokafka=0.6)) if "aiokafka" in r["target"])
    assert row["value"] == 0.6 and row["met"] is True and "(ratio of medians, same run)" in row["target"]


def test_sampled_tracing_is_a_row_of_its_own_beside_the_tracing_target_which_keeps_its_definition() -> None:
    summary = {"tracing_on_to_off_paired": 0.83, "tracing_sampled_to_off_paired": 0.97, "tracing_sampled_share": 0.1}
    rows = targets.evaluate(results(**summary, tracing_sampled_to_off_cpu_paired=0.96))
    at = next(i for i, r in enumerate(rows) if r["target"].startswith("tracing exported ÷ disabled"))
    tracing, by_cpu, sampled = rows[at : at + 3]
    assert (tracing["value"], tracing["met"]) == (0.83, False)  # every report traced: the target, not met
    assert by_cpu["target"].startswith("secondary, by CPU")
    assert sampled["value"] == 0.97 and "not the target" in sampled["target"] and "0.1 of reports" in sampled["target"]
    assert sampled["goal"] == "stated" and sampled["met"] is None and "by CPU 0.96" in sampled["note"]
    assert next(r for r in targets.evaluate(results()) if "not the target" in r["target"])["value"] is None
