"""`make bench`: every benchmark, written to bench/results/ (JSON, Markdown table, PNG chart, profiles).

End-to-end through the real intake → routing → notifier workers and, in the same run, through two
pass-through baselines with the same three hops and the same HTTP delivery; the codec against bare
fastavro; the rules benchmark (bench.bench_rules) when present; tracing exported vs disabled; py-spy
profiles of each worker at the highest load; P1 latency behind a 50,000-referral P4 backlog (bench.priority).

    python -m bench.run                 # full run (~35 min on 2 cores)
    python -m bench.run --smoke --out DIR   # a few hundred reports: the harness's own test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import accounting, codec_bench, machine, output, priority, profiles
from bench.drive import Load, closed_loop, fixed_rate, warm_up
from bench.sink import OtlpSink, ReceiverProcess
from bench.stacks import BaselineStack, OurStack, Tuning
from referral_bus.kafka import client_kwargs
from referral_bus.settings import REPO_ROOT, BusSettings, KafkaSettings
from referral_devstack.settings import DevstackSettings
from referral_devstack.workers import temp_workdir

RESULTS = REPO_ROOT / "bench" / "results"
PROFILED = ("ours", "ours_ledger")  # configurations whose workers py-spy samples after their runs


@dataclass
class Plan:
    """What to run; the defaults are the full `make bench`."""

    rates: list[float] = field(default_factory=lambda: [100, 200, 300, 500, 700, 1000, 1400, 2000])
    step_seconds: float = 30.0
    unthrottled_seconds: float = 15.0
    unthrottled_repeats: int = 3
    in_flight: int = 500
    profile_seconds: float = 12.0
    configs: list[str] = field(
        default_factory=lambda: [
            "ours",
            "ours_tracing",
            "ours_ledger",
            "ours_unbatched",
            "faust",
            "faust_take",
            "aiokafka",
            "aiokafka_httpx",
        ]
    )
    stepped: list[str] = field(default_factory=lambda: ["ours", "faust", "aiokafka"])
    codec_records: int = 2000
    codec_repeats: int = 7
    rules: bool = True
    seed: int = 20261130
    priority: priority.Scenario | None = field(default_factory=priority.Scenario)  # None: not run

    @classmethod
    def smoke(cls) -> Plan:
        return cls(
            rates=[50],
            step_seconds=4,
            unthrottled_seconds=3,
            unthrottled_repeats=1,
            in_flight=50,
            profile_seconds=0,
            configs=["ours", "ours_tracing", "ours_unbatched", "faust", "faust_take", "aiokafka"],  # all start
            stepped=["ours", "aiokafka"],
            codec_records=200,
            codec_repeats=1,
            rules=False,
            priority=priority.Scenario.smoke(),
        )


def _median_latency(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: round(statistics.median(r["latency_ms"][k] for r in runs), 1) for k in runs[0]["latency_ms"]}


async def _delete_topics(prefix: str) -> None:
    """Remove this run's topics (names start with its own namespace) from the shared broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_kwargs(KafkaSettings()))
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    except Exception as exc:  # a leftover topic is harmless; say so and go on
        print(f"  (could not delete topics {prefix}*: {type(exc).__name__})", file=sys.stderr)
    finally:
        await admin.close()


async def run_config(
    name: str, plan: Plan, tuning: Tuning, receiver: ReceiverProcess, otlp: OtlpSink | None, prefix: str, outdir: Path
) -> dict[str, Any]:
    """Start one stack, warm it up, run its steps and unthrottled repeats (and profiles), stop it."""
    namespace = f"{prefix}-{name.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    result: dict[str, Any] = {}
    with temp_workdir(prefix="bench-") as work:
        stack: OurStack | BaselineStack
        if name in ("ours", "ours_tracing", "ours_ledger", "ours_unbatched"):
            stack = OurStack(
                name,
                namespace,
                work,
                receiver.base_url,
                tuning,
                otlp_endpoint=otlp.endpoint if (otlp and name == "ours_tracing") else None,
                ledger=name == "ours_ledger",
                batch_max_events=1 if name == "ours_unbatched" else None,
            )
        else:
            kind = "aiokafka" if name.startswith("aiokafka") else "faust"
            stack = BaselineStack(
                name,
                kind,
                namespace,
                work,
                receiver.base_url,
                tuning,
                mode="take" if name.startswith("faust_take") else "naive",
                http_client="httpx" if name.endswith("_httpx") else "aiohttp",  # ours posts with aiohttp
            )
            await stack.create_topics()
        t = time.monotonic()
        try:
            await asyncio.to_thread(stack.start)
            async with Load(stack.intake_topic, seed=plan.seed) as load:
                try:
                    await warm_up(load, receiver)
                except RuntimeError:
                    if isinstance(stack, BaselineStack):
                        stack.check_alive()  # raises with the dead process's log tail
                    raise
                result["description"] = stack.describe()
                result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
                cpu_before = accounting.snapshot(_pids(stack, receiver))
                result["start_seconds"] = round(time.monotonic() - t, 1)
                print(f"[{name}] ready in {result['start_seconds']} s", flush=True)
                if name in plan.stepped:
                    steps: list[dict[str, Any]] = []
                    saturated = False
                    for rate in plan.rates:
                        if saturated:
                            steps.append({"offered_per_s": rate, "skipped": "above capacity"})
                            continue
                        step = await fixed_rate(load, receiver, rate, plan.step_seconds)
                        saturated = not step["sustained"]
                        steps.append(step)
                        print(
                            f"[{name}] {rate}/s → {step['throughput_per_s']}/s p99 {step['latency_ms']['p99']} ms "
                            f"lost {step['lost']}",
                            flush=True,
                        )
                    result["steps"] = steps
                runs = []
                for _ in range(plan.unthrottled_repeats):
                    run = await closed_loop(
                        load,
                        receiver,
                        plan.unthrottled_seconds,
                        in_flight=plan.in_flight,
                        warm_s=min(3.0, plan.unthrottled_seconds / 3),
                    )
                    runs.append(run)
                    print(
                        f"[{name}] unthrottled → {run['throughput_per_s']}/s p99 {run['latency_ms']['p99']} ms "
                        f"lost {run['lost']}",
                        flush=True,
                    )
                if runs:
                    result["unthrottled"] = {
                        "in_flight": plan.in_flight,
                        "runs": runs,
                        "median_throughput_per_s": statistics.median(r["throughput_per_s"] for r in runs),
                        "median_latency_ms": _median_latency(runs),
                        "lost": sum(r["lost"] for r in runs),
                        "duplicates": sum(r["duplicates"] for r in runs),
                    }
                reports = 20 + sum(st.get("sent", 0) for st in result.get("steps", [])) + sum(r["sent"] for r in runs)
                result["accounting"] = await _accounting(_pids(stack, receiver), namespace, cpu_before, reports)
                result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
                if name in PROFILED and plan.profile_seconds > 0 and profiles.available():
                    where = outdir if name == "ours" else outdir / name  # ours_ledger's workers in their own folder
                    result["profiles"] = await _profile(stack, load, receiver, plan, where)
        finally:
            await asyncio.to_thread(stack.stop)
            await _delete_topics(namespace)
    return result


def _pids(stack: OurStack | BaselineStack, receiver: ReceiverProcess) -> dict[str, int]:
    return {**stack.pids(), **({"receiver": receiver.pid} if receiver.pid else {})}


async def _accounting(
    pids: dict[str, int], namespace: str, cpu_before: dict[str, float], reports: int
) -> dict[str, Any]:
    """CPU seconds per process and records per topic, in all and per report, for one configuration's run."""
    cpu = accounting.spent(cpu_before, accounting.snapshot(pids))
    records = await accounting.records_per_topic(namespace)
    return {
        "reports": reports,
        "cpu_seconds": cpu,
        "cpu_ms_per_report": {n: round(1000 * v / reports, 3) for n, v in cpu.items()},
        "records_per_topic": records,
        "records_per_report": round(sum(records.values()) / reports, 2),
    }


async def _profile(
    stack: OurStack | BaselineStack, load: Load, receiver: ReceiverProcess, plan: Plan, outdir: Path
) -> dict[str, Any]:
    """An extra unthrottled run (not counted) while py-spy samples every worker."""
    spies = profiles.start(stack.pids(), outdir, plan.profile_seconds - 2)
    run = await closed_loop(load, receiver, plan.profile_seconds, in_flight=plan.in_flight)
    for p in spies.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=60)
    spots = {n: profiles.hot_spots(outdir / f"{n}.txt") for n in spies if (outdir / f"{n}.txt").exists()}
    print(f"[profile] {run['throughput_per_s']}/s while sampled; raw stacks in {outdir}", flush=True)
    return {
        "dir": str(outdir.relative_to(REPO_ROOT)) if outdir.is_relative_to(REPO_ROOT) else str(outdir),
        "throughput_while_sampled_per_s": run["throughput_per_s"],
        "hot_spots": spots,
    }


def _rules(plan: Plan) -> dict[str, Any]:
    """Reuse the rules engine's own benchmark when it exists."""
    if not plan.rules:
        return {"skipped": "not in this plan"}
    if not (REPO_ROOT / "bench" / "bench_rules.py").exists():
        return {"skipped": "bench/bench_rules.py is not there yet"}
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.bench_rules", "--naive-cases", "20000"],
            cwd=REPO_ROOT,
            check=True,
            timeout=600,
        )
        out: dict[str, Any] = json.loads((RESULTS / "rules.json").read_text(encoding="utf-8"))
        return out
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        return {"error": f"bench.bench_rules failed: {type(exc).__name__}"}


def _worker_cpu(e2e: dict[str, Any], name: str) -> float | None:
    """CPU ms per report of a configuration's worker processes together (not the broker, driver or receiver)."""
    per = e2e.get(name, {}).get("accounting", {}).get("cpu_ms_per_report")
    return sum(v for k, v in per.items() if k not in ("broker", "driver", "receiver")) if per else None


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    e2e = results["e2e"]

    def top(name: str) -> float | None:
        un = e2e.get(name, {}).get("unthrottled")
        return float(un["median_throughput_per_s"]) if un else None

    s: dict[str, Any] = {}
    ours = top("ours")
    for key, other in (
        ("ratio_to_faust", "faust"),
        ("ratio_to_faust_take", "faust_take"),
        ("ratio_to_aiokafka", "aiokafka"),
    ):
        o = top(other)
        if ours and o:
            s[key] = round(ours / o, 3)
    for num, den, key in (
        ("faust_take", "faust", "faust_take_to_faust"),
        ("faust", "aiokafka", "faust_to_aiokafka"),
        ("aiokafka_httpx", "aiokafka", "httpx_to_aiohttp_aiokafka"),
    ):
        a, b = top(num), top(den)
        if a and b:
            s[key] = round(a / b, 3)
    if (traced := top("ours_tracing")) and ours:
        s["tracing_on_to_off"] = round(traced / ours, 3)
    if (ledger := top("ours_ledger")) and ours:  # the ledger worker and per-case sealing, against without them
        s["ledger_on_to_off"] = round(ledger / ours, 3)
    if (cpu := _worker_cpu(e2e, "ours")) and (cpu_ledger := _worker_cpu(e2e, "ours_ledger")):
        s["ledger_cpu_off_to_on"] = round(cpu / cpu_ledger, 3)  # less load-sensitive than the throughput ratio
    if (unbatched := top("ours_unbatched")) and ours:  # the batch loop, against one event at a time
        s["batched_to_unbatched"] = round(ours / unbatched, 3)
    for name, cfg in e2e.items():
        ok = [
            st["offered_per_s"]
            for st in cfg.get("steps", [])
            if not st.get("skipped") and st["lost"] == 0 and st["latency_ms"]["p99"] < 500 and st["sustained"]
        ]
        if cfg.get("steps"):
            key = "knee_per_s" if name == "ours" else f"knee_{name}_per_s"
            s[key] = max(ok) if ok else None
    if prio := results.get("priority"):  # target: < 1,000 ms with the 50,000-referral backlog waiting
        s["p1_p99_ms_with_p4_backlog"] = prio["p1_latency_ms"]["p99"]
        s["p4_backlog"] = prio["scenario"]["backlog"]
    return s


async def main_async(plan: Plan, out: Path, prefix: str) -> dict[str, Any]:
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    tuning = Tuning(partitions=KafkaSettings().topic_partitions)
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "git": accounting.git_commit(),
        "machine": machine.describe(),
        "parameters": {
            **{k: v for k, v in asdict(plan).items()},
            "tuning": asdict(tuning),
            "processes_per_pipeline": 3,
            "referrals_per_report": 1,
            "reports": "adult victims who consented (the only cases the shipped safeguards let make exactly one "
            "referral), 34 provinces, fixed seed",
            "load_generator": "one aiokafka producer (acks=all, linger 5 ms) in the runner process, "
            "which also hosts the OTLP sink; the HTTP receiver runs in its own process",
            "latency": "receiver arrival (epoch ms) − report received_at: in the stepped runs the report's "
            "scheduled send time (reports encoded before the clock starts: no coordinated omission), in the "
            "unthrottled runs the time it was produced",
            "cpu": "utime + stime from /proc/<pid>/stat per worker, the broker and the driver, from warm-up "
            "to the end of the configuration's runs (profiling excluded)",
            "unthrottled": "closed loop: in_flight reports between produce and arrival; throughput counted "
            "after the first 3 s",
        },
        "e2e": {},
    }
    print("codec …", flush=True)
    results["codec"] = await asyncio.to_thread(codec_bench.run, plan.codec_records, plan.codec_repeats)
    receiver, otlp = ReceiverProcess(), OtlpSink()
    await receiver.start()
    await otlp.start()
    try:
        for name in plan.configs:
            results["e2e"][name] = await run_config(
                name, plan, tuning, receiver, otlp, prefix, out / "profiles" / stamp
            )
        results["otlp_sink"] = {"requests": otlp.requests, "bytes": otlp.bytes}
    finally:
        await receiver.stop()
        await otlp.stop()
    if plan.priority is not None:
        print("priority lanes: P1 behind a P4 backlog …", flush=True)
        results["priority"] = await priority.run(plan.priority, f"{prefix}-prio-{uuid.uuid4().hex[:6]}", tuning)
        print(f"[priority] P1 p99 {results['priority']['p1_latency_ms']['p99']} ms", flush=True)
    results["rules"] = await asyncio.to_thread(_rules, plan)
    results["summary"] = _summary(results)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    text = json.dumps(results, indent=2, default=str)
    (out / f"{stamp}.json").write_text(text, encoding="utf-8")
    (out / "latest.json").write_text(text, encoding="utf-8")
    table = output.markdown(results)
    (out / "latest.md").write_text(f"# Benchmark {results['started_at']}\n\n{table}", encoding="utf-8")
    output.chart(results, out / "latest.png")
    print()
    print(table)
    print(f"results: {out / (stamp + '.json')}, {out / 'latest.md'}, {out / 'latest.png'}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few hundred reports, one rate, aiokafka baseline only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default bench/results)")
    parser.add_argument(
        "--namespace",
        default=BusSettings().namespace or "bench",
        help="topic prefix for this run's stacks",
    )
    parser.add_argument(
        "--configs",
        help="comma-separated subset of: ours, ours_tracing, ours_ledger, ours_unbatched, faust, faust_take, aiokafka, "
        "and *_httpx variants of the baselines (httpx instead of aiohttp for the last hop)",
    )
    parser.add_argument("--render", action="store_true", help="only redo latest.md and latest.png from latest.json")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads((args.out / "latest.json").read_text(encoding="utf-8"))
        table = output.markdown(results)
        (args.out / "latest.md").write_text(f"# Benchmark {results['started_at']}\n\n{table}", encoding="utf-8")
        output.chart(results, args.out / "latest.png")
        print(table)
        return 0
    plan = Plan.smoke() if args.smoke else Plan()
    if args.configs:
        plan.configs = args.configs.split(",")
    if shutil.which("java") is None and DevstackSettings().kafka_bootstrap_servers is None:
        print("note: no java on PATH; expecting a broker at 127.0.0.1:9092 already", file=sys.stderr)
    asyncio.run(main_async(plan, args.out, args.namespace))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
