"""The plan and the merging of rounds (bench/run.py, bench/accounting.py): pure parts, no broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import accounting, stacks
from bench import run as bench_run
from bench.baseline_common import StageConfig
from bench.run import OURS, Plan, _stack, _summary, _warm, known_config, merge_rounds
from bench.settings import BenchSettings
from bench.sink import ReceiverProcess
from bench.stacks import BaselineStack, OurStack, Tuning
from referral_bus.settings import ServiceSettings
from services.intake.settings import IntakeSettings
from services.notifier.settings import NotifierSettings
from services.routing.settings import RoutingSettings


def test_the_smoke_plan_runs_every_configuration_of_the_full_plan() -> None:
    full, smoke = Plan(), Plan.smoke()
    assert smoke.configs == full.configs and smoke.stepped == full.stepped
    assert smoke.priority is not None and smoke.rules


def test_bench_variables_override_the_full_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_CONFIGS", "ours, aiokafka_httpx")
    monkeypatch.setenv("BENCH_RATES", "100,200")
    monkeypatch.setenv("BENCH_STEP_SECONDS", "40")
    monkeypatch.setenv("BENCH_PRIORITY_BACKLOG", "0")
    monkeypatch.setenv("BENCH_WARM_SECONDS", "0")
    monkeypatch.setenv("BENCH_STAGE", "intake")  # a baseline stage's variable: not ours, ignored
    plan = Plan.from_settings()
    assert plan.configs == ["ours", "aiokafka_httpx"] and plan.rates == [100.0, 200.0]
    assert plan.step_seconds == 40 and plan.priority is None and plan.unthrottled_repeats == 3
    assert plan.warm_seconds == 0 and plan.first_warm_seconds == Plan().first_warm_seconds


def test_an_unknown_configuration_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ourz"):
        Plan.from_settings(BenchSettings(configs=["ourz"]))
    assert known_config("faust_take_httpx") and not known_config("ours_httpx")


def _round(n: int, throughput: float, **extra: Any) -> dict[str, Any]:
    acct = accounting.per_report(100, {"intake": 0.5, "broker": 1.0}, {"cases": 100}, {"cases": 90})
    run = {"throughput_per_s": throughput, "lost": 0, "duplicates": 0, "latency_ms": {"p50": throughput, "p99": 1.0}}
    return {
        "round": n,
        "description": {"kind": "ours"},
        "load_average_before": [1.0, 1.0, 1.0],
        "load_average_after": [2.0, 2.0, 2.0],
        "run": run,
        "accounting": acct,
        **extra,
    }


def test_rounds_merge_into_medians_and_summed_accounting() -> None:
    rounds = [_round(0, 10.0, broker_age_s=60.0), _round(1, 30.0), _round(2, 20.0, steps=[{"offered_per_s": 100}])]
    merged = merge_rounds(rounds, 500)
    assert merged["steps"] == [{"offered_per_s": 100}]
    assert merged["unthrottled"]["median_throughput_per_s"] == 20.0 and len(merged["unthrottled"]["runs"]) == 3
    assert [la["round"] for la in merged["load_average"]] == [0, 1, 2]
    assert [la["broker_age_s"] for la in merged["load_average"]] == [60.0, None, None]
    assert merged["rounds"][0]["broker_age_s"] == 60.0 and "broker_age_s" not in merged["rounds"][1]
    acct = merged["accounting"]
    assert acct["reports"] == 300 and acct["cpu_seconds"] == {"broker": 3.0, "intake": 1.5}
    assert acct["cpu_ms_per_report"]["intake"] == 5.0
    assert acct["records_per_report_per_topic"] == {"cases": 1.0}
    assert acct["records_consumed_per_report_per_topic"] == {"cases": 0.9}


def test_a_failed_round_is_kept_as_an_error_and_the_others_still_count() -> None:
    merged = merge_rounds(
        [_round(0, 10.0), {"round": 1, "error": "RuntimeError: workers not ready"}, _round(2, 30.0)], 5
    )
    assert merged["errors"] == [{"round": 1, "error": "RuntimeError: workers not ready"}]
    assert merged["unthrottled"]["median_throughput_per_s"] == 20.0 and merged["accounting"]["reports"] == 200
    assert [la["round"] for la in merged["load_average"]] == [0, 2]


def test_each_of_our_workers_lingers_as_its_settings_choose_and_the_baselines_keep_theirs() -> None:
    tuning = Tuning()
    env = tuning.service_env()
    for prefix, settings in (("INTAKE", IntakeSettings), ("ROUTING", RoutingSettings), ("NOTIFIER", NotifierSettings)):
        assert env[f"{prefix}_PRODUCER_LINGER_MS"] == str(settings.model_fields["producer_linger_ms"].default)
    assert tuning.baseline_env()["BENCH_LINGER_MS"] == str(tuning.producer_linger_ms)


def test_ours_hops_runs_our_stack_with_every_report_through_the_correlation_hops(tmp_path: Path) -> None:
    assert known_config("ours_hops") and "ours_hops" not in Plan().configs  # on demand: --configs ours,ours_hops
    receiver = ReceiverProcess()
    stacks = {name: _stack(name, Plan(), Tuning(), receiver, None, "ns", tmp_path) for name in ("ours", "ours_hops")}
    assert isinstance(stacks["ours_hops"], OurStack) and stacks["ours_hops"].local_correlation is False
    assert isinstance(stacks["ours"], OurStack) and stacks["ours"].local_correlation is None
    assert stacks["ours_hops"].describe()["local_correlation"] is False
    assert stacks["ours"].describe()["local_correlation"] is IntakeSettings().local_correlation


def test_the_summary_compares_correlation_here_with_the_hops() -> None:
    def config(throughput: float, intake_cpu: float) -> dict[str, Any]:
        cpu = {"intake": intake_cpu, "routing": 1.0, "notifier": 1.0, "broker": 9.0}
        return {"unthrottled": {"median_throughput_per_s": throughput}, "accounting": {"cpu_ms_per_report": cpu}}

    s = _summary({"e2e": {"ours": config(150.0, 2.0), "ours_hops": config(100.0, 4.0)}})
    assert s["here_to_hops"] == 1.5 and s["here_cpu_hops_to_here"] == 1.5  # (4+1+1) / (2+1+1); the broker aside


def test_aiokafka_records_stages_write_as_many_records_a_report_as_our_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert known_config("aiokafka_records") and "aiokafka_records" in Plan().configs  # in every full run
    receiver, seen, created = ReceiverProcess(), dict[str, dict[str, str]](), list[str]()
    monkeypatch.setattr(stacks, "spawn_in_tree", lambda cmd, env, log: seen.setdefault(env["BENCH_STAGE"], env))

    async def ensure_topics(settings: Any, names: list[str]) -> None:
        created.extend(names)

    monkeypatch.setattr(stacks, "ensure_topics", ensure_topics)
    for name in ("aiokafka", "aiokafka_records"):
        stack = _stack(name, Plan(), Tuning(), receiver, None, "ns", tmp_path)
        assert isinstance(stack, BaselineStack) and stack.kind == "aiokafka"
        seen.clear()
        for i in range(3):
            stack._start_stage(i)
        extra: dict[str, list[str]] = {}
        for stage, env in seen.items():  # each stage's topics as its loop reads them
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            extra[stage] = StageConfig.from_env().extra_topics
        counts = {stage: len(topics) for stage, topics in extra.items()}
        if name == "aiokafka":
            assert counts == {"intake": 0, "routing": 0, "notifier": 0}
            continue
        # the report, 2 forwarded, 4 + 3 + 4 written beside: 14, as ours (bench/results/records.md)
        assert counts == {"intake": 4, "routing": 3, "notifier": 4} and 1 + 2 + sum(counts.values()) == 14
        assert extra["intake"].count("ns.bench.intake-content") == 2 and all(
            t.startswith("ns.") for t in extra["routing"]
        )
        assert {t for topics in extra.values() for t in topics} & set(stack.hops) == set()  # never a forwarded topic
        assert stack.describe()["extra_records_per_report"] == 11
        asyncio.run(stack.create_topics())  # with the stack's partitions, not left to the broker's auto-creation
        assert set(created) == {*stack.hops, *(t for topics in extra.values() for t in topics)}


def test_the_summary_weighs_the_records_against_the_plain_loops_and_ours_against_the_same_records() -> None:
    def config(throughputs: list[float]) -> dict[str, Any]:
        rounds = [_round(i, t) for i, t in enumerate(throughputs)]
        for r in rounds:
            r["run"] |= {"round": r["round"], "cpu_ms_per_report": {"intake": 1.0}}
        return merge_rounds(rounds, 500)

    plain, records, ours = config([4000.0, 5000.0, 2000.0]), config([1000.0, 2000.0, 1000.0]), config([500.0] * 3)
    s = _summary({"e2e": {"aiokafka": plain, "aiokafka_records": records}})
    assert s["records_baseline_to_aiokafka_paired"] == 0.4 and s["records_baseline_to_aiokafka_per_round"] == [
        0.25,
        0.4,
        0.5,
    ]
    assert "ratio_to_aiokafka_records_paired" not in s  # ours did not run
    s = _summary({"e2e": {"ours": ours, "aiokafka": plain, "aiokafka_records": records}})
    assert s["ratio_to_aiokafka_records_paired"] == 0.5 and s["ratio_to_aiokafka_records_per_round"] == [0.5, 0.25, 0.5]
    assert s["ratio_to_aiokafka_paired"] == 0.125  # the ratio, unchanged beside them


async def test_every_start_is_warmed_and_the_runs_first_start_longest(monkeypatch: pytest.MonkeyPatch) -> None:
    offered: list[tuple[float, float]] = []

    async def fixed_rate(load: Any, receiver: Any, rate: float, seconds: float) -> dict[str, Any]:
        offered.append((rate, seconds))
        return {"sent": int(rate * seconds), "latency_ms": {"p99": 1.0}}

    monkeypatch.setattr(bench_run, "fixed_rate", fixed_rate)
    plan = Plan()
    first, later = await _warm(plan, None, None, True), await _warm(plan, None, None, False)  # type: ignore[arg-type]  # fixed_rate replaced: no load or receiver used
    assert offered == [(plan.warm_rate, plan.first_warm_seconds), (plan.warm_rate, plan.warm_seconds)]
    assert (
        first["sent"] == plan.warm_rate * plan.first_warm_seconds
        and later["sent"] == plan.warm_rate * plan.warm_seconds
    )
    assert await _warm(Plan(warm_seconds=0), None, None, False) == {"sent": 0, "seconds": 0}  # type: ignore[arg-type]  # never called
    assert len(offered) == 2


def test_a_process_age_is_read_from_proc_and_none_once_it_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        own, young = accounting.age_seconds(os.getpid()), accounting.age_seconds(child.pid)
        assert own is not None and young is not None and 0 <= young <= own
    finally:
        child.kill()
        child.wait()
    assert accounting.age_seconds(child.pid) is None


def test_the_summary_pairs_each_ratio_target_by_round_and_by_cpu_beside_the_ratio_of_medians() -> None:
    def config(throughputs: list[float], worker_cpu: float) -> dict[str, Any]:
        rounds = [_round(i, t) for i, t in enumerate(throughputs)]
        for r in rounds:
            r["run"] |= {"round": r["round"], "cpu_ms_per_report": {"intake": worker_cpu, "broker": 5.0}}
        return merge_rounds(rounds, 500)

    e2e = {"ours": config([100.0, 300.0, 200.0], 4.0), "aiokafka": config([1000.0, 1000.0, 4000.0], 1.0)}
    s = _summary({"e2e": e2e})
    assert s["ratio_to_aiokafka"] == 0.2 and s["ratio_to_aiokafka_paired"] == 0.1
    assert s["ratio_to_aiokafka_per_round"] == [0.1, 0.3, 0.05] and s["ratio_to_aiokafka_cpu_paired"] == 0.25
    assert "ratio_to_faust_take" not in s and "tracing_on_to_off_paired" not in s


def test_bench_fetch_variables_change_only_our_workers_fetch_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    default = bench_run._tuning(BenchSettings())
    monkeypatch.setenv("BENCH_FETCH_MIN_BYTES", "65536")
    monkeypatch.setenv("BENCH_FETCH_MAX_WAIT_MS", "10")
    tuned = bench_run._tuning(BenchSettings())
    assert (tuned.consumer_fetch_min_bytes, tuned.consumer_fetch_max_wait_ms) == (65536, 10)
    defaults = ServiceSettings()
    assert default.consumer_fetch_min_bytes == defaults.consumer_fetch_min_bytes
    assert default.consumer_fetch_max_wait_ms == defaults.consumer_fetch_max_wait_ms
    base = default.service_env()
    monkeypatch.setenv("BENCH_FETCH_GATHER_MAX_WAIT_MS", "0")
    env = bench_run._tuning(BenchSettings()).service_env()
    assert default.consumer_fetch_gather_max_wait_ms == defaults.consumer_fetch_gather_max_wait_ms > 0
    assert {k for k in env if env[k] != base[k]} == {
        f"{s}_CONSUMER_FETCH_{x}"
        for s in ("INTAKE", "ROUTING", "NOTIFIER")
        for x in ("MIN_BYTES", "MAX_WAIT_MS", "GATHER_MAX_WAIT_MS")
    }
    assert tuned.baseline_env() == default.baseline_env()


def test_ours_sampled_exports_the_whole_trace_of_a_share_of_reports_beside_ours_tracing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "ours_sampled" in Plan().configs and Plan().traces_sampled == 0.1  # in every full run
    sink = SimpleNamespace(endpoint="http://127.0.0.1:1")
    made = {n: _stack(n, Plan(), Tuning(), ReceiverProcess(), sink, "ns", tmp_path) for n in OURS}  # type: ignore[arg-type]  # the sink's endpoint only
    envs = {n: s.tracing_env() for n, s in made.items() if isinstance(s, OurStack)}
    assert envs["ours_sampled"] == {
        **envs["ours_tracing"],
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    assert "OTEL_TRACES_SAMPLER" not in envs["ours_tracing"] and envs["ours"] == {"OTEL_TRACES_EXPORTER": "none"}
    monkeypatch.setenv("BENCH_TRACES_SAMPLER_ARG", "0.25")
    plan = Plan.from_settings()
    stack = _stack("ours_sampled", plan, Tuning(), ReceiverProcess(), sink, "ns", tmp_path)  # type: ignore[arg-type]  # as above
    assert isinstance(stack, OurStack) and stack.tracing_env()["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    assert stack.describe()["traces_sampled"] == 0.25


def test_the_summary_pairs_sampled_tracing_with_tracing_off_and_names_its_share() -> None:
    def config(throughputs: list[float], sampled: float | None) -> dict[str, Any]:
        rounds = [_round(i, t) for i, t in enumerate(throughputs)]
        for r in rounds:
            r["description"] = {"kind": "ours", "traces_sampled": sampled}
            r["run"] |= {"round": r["round"], "cpu_ms_per_report": {"intake": 1.0, "broker": 5.0}}
        return merge_rounds(rounds, 500)

    e2e = {"ours": config([100.0, 200.0, 100.0], None), "ours_sampled": config([90.0, 190.0, 100.0], 0.1)}
    s = _summary({"e2e": e2e})
    assert s["tracing_sampled_to_off_per_round"] == [0.9, 0.95, 1.0] and s["tracing_sampled_to_off_paired"] == 0.95
    assert s["tracing_sampled_share"] == 0.1 and "tracing_on_to_off" not in s  # the target's own key untouched
