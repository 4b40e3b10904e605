"""What latest.md says about the unthrottled runs and the ratios (bench/output.py)."""

from __future__ import annotations

from typing import Any

from bench import output


def _results() -> dict[str, Any]:
    runs = [
        {"round": i, "throughput_per_s": t, "window_from_s": w, "lost": 0, "duplicates": 0}
        for i, (t, w) in enumerate([(100.0, 3.0), (300.0, 5.5), (200.0, 3.0)])
    ]
    lat = {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0}
    un = {"in_flight": 500, "runs": runs, "median_throughput_per_s": 200.0, "median_latency_ms": lat}
    un |= {"lost": 0, "duplicates": 0}
    summary = {"ratio_to_aiokafka": 0.2, "ratio_to_aiokafka_paired": 0.1, "ratio_to_aiokafka_per_round": [0.1, 0.3]}
    summary |= {"ratio_to_aiokafka_cpu_paired": 0.25, "ratio_to_aiokafka_cpu_per_round": [0.25, 0.26]}
    return {"e2e": {"ours": {"unthrottled": un}}, "summary": summary, "targets": []}


def test_the_unthrottled_row_gives_each_round_and_where_the_steady_windows_began() -> None:
    text = output.markdown(_results())
    assert "| ours | unthrottled (500 in flight, counted from 3–5.5 s, median of 3) | **200** (100, 300, 200) |" in text


def test_a_paired_ratio_is_shown_with_its_pairs_the_ratio_of_medians_and_by_cpu() -> None:
    line = next(x for x in output.markdown(_results()).splitlines() if x.startswith("- ours ÷ plain aiokafka"))
    assert line == (
        "- ours ÷ plain aiokafka loops: **0.1** (median of per-round pairs 0.1, 0.3; ratio of medians 0.2; by the "
        "workers' CPU per report, inverted: 0.25 (0.25, 0.26))"
    )
