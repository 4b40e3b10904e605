"""The benchmark harness runs end to end on a few hundred reports, every configuration of the full plan
(no timing assertions: that is bench/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import ratios
from bench.run import Plan
from referral_bus.settings import REPO_ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.timeout(1500)]


def test_smoke_run_writes_every_result_and_loses_nothing(kafka: str, namespace: str, tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path), "--namespace", namespace],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:  # eight configurations started once each and the priority scenario: ≈ 5 min quiet, 12 at load 25
        stdout, stderr = proc.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the run stops its workers on the way out (SIGKILL would leave them running)
        stdout, stderr = proc.communicate(timeout=180)
        pytest.fail("the smoke run took over 20 min:\n" + stdout[-3000:] + stderr[-3000:])
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert (tmp_path / "latest.md").read_text().startswith("# Benchmark")
    assert (tmp_path / "latest.png").stat().st_size > 1000
    results = json.loads((tmp_path / "latest.json").read_text())
    assert {"machine", "parameters", "e2e", "codec", "summary", "started_at"} <= results.keys()
    assert {"cpus", "memory_gb", "python", "packages", "kafka_broker"} <= results["machine"].keys()
    assert {"faust-streaming", "aiokafka", "fastavro"} <= results["machine"]["packages"].keys()
    assert {"ratio_encode", "ratio_decode", "ratio_decode_v1"} <= results["codec"].keys()
    full = Plan()
    assert set(full.configs) == results["e2e"].keys()  # every configuration `make bench` runs, from a clean tree
    assert {n for n, cfg in results["e2e"].items() if cfg.get("steps")} == set(full.stepped)
    assert results["order"] == [full.configs]
    assert len(results["git"]["commit"]) == 40
    assert {"worker_settings", "baseline_settings", "tuning", "knee", "rounds"} <= results["parameters"].keys()
    assert not {n: cfg["errors"] for n, cfg in results["e2e"].items() if cfg.get("errors")}
    for name, cfg in results["e2e"].items():  # who paid: CPU per process, records per topic produced and consumed
        acct = cfg["accounting"]
        assert acct["reports"] > 0 and acct["records_per_report"] >= 3, name
        assert acct["commits_caught_up"], (name, [r["accounting"]["commit_wait"] for r in cfg["rounds"]])
        assert acct["records_consumed_per_report"] >= 3, name
        assert acct["records_per_report_per_topic"] and acct["records_consumed_per_report_per_topic"], name
        assert acct["cpu_seconds"]["driver"] > 0 and acct["cpu_seconds"]["receiver"] > 0, name
        assert all(len(la["before"]) == 3 and len(la["after"]) == 3 for la in cfg["load_average"]), name
    assert {t["target"].split(" ")[0] for t in results["targets"]} >= {"knee", "unthrottled", "codec", "correctness"}
    assert len(results["targets"]) == 12  # three ratio targets each with a secondary row by CPU per report, sampled
    assert any("not the target" in t["target"] and t["value"] is not None for t in results["targets"])
    assert sum(t["target"].startswith("secondary, by CPU") for t in results["targets"]) == 3
    assert "indexed" in results["rules"], results["rules"]  # the rules benchmark ran too (small)
    assert {"codec", "round_1", "priority", "rules", "total"} <= results["timings_seconds"].keys()
    md = (tmp_path / "latest.md").read_text()
    assert "## Targets" in md and results["git"]["commit"] in md and "records produced / consumed" in md
    assert {"ratio_to_aiokafka", "ratio_to_aiokafka_paired", "ratio_to_aiokafka_cpu_paired"} <= results[
        "summary"
    ].keys()
    assert {"ratio_to_faust_take_per_round", "tracing_on_to_off_cpu_per_round"} <= results["summary"].keys()
    assert {"tracing_sampled_to_off_paired", "tracing_sampled_to_off_cpu_paired"} <= results["summary"].keys()
    assert results["summary"]["tracing_sampled_share"] == 0.1
    assert {"records_baseline_to_aiokafka_paired", "ratio_to_aiokafka_records_paired"} <= results["summary"].keys()
    prio = results["priority"]  # P1 behind a P4 backlog (smoke size): every P1 arrived, the backlog still waited
    assert prio["p1_lost"] == 0 and prio["p1_sent"] > 0, prio
    assert prio["p4_still_waiting"] > 0 and {"p50", "p99"} <= prio["p1_latency_ms"].keys()
    assert "p1_p99_ms_with_p4_backlog" in results["summary"]
    for name, cfg in results["e2e"].items():
        runs = [*(s for s in cfg.get("steps", []) if not s.get("skipped")), *cfg["unthrottled"]["runs"]]
        for run in runs:
            assert run["sent"] > 0, name
            assert run["lost"] == 0, f"{name}: {run['lost']} of {run['sent']} reports never arrived"
            assert {"p50", "p95", "p99", "max"} <= run["latency_ms"].keys()
            assert "throughput_per_s" in run
        for run in cfg["unthrottled"]["runs"]:  # the steady window, each second's deliveries, CPU of the run alone
            assert run["round"] == 0 and 0 < run["window_s"] and run["window_from_s"] >= 1, (name, run)
            assert len(run["per_second"]) >= int(run["seconds"]) - 1 and sum(run["per_second"]) > 0, (name, run)
            assert "throughput_whole_window_per_s" in run and ratios.workers_cpu_ms(run["cpu_ms_per_report"]), name
    assert sum(r["sent"] for r in results["e2e"]["ours"]["steps"]) >= 200
