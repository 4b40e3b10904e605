"""`make bench`: every benchmark, written to bench/results/ (JSON, Markdown table, PNG chart, profiles).

End-to-end through the real intake → routing → notifier workers and, in the same run, through two
pass-through baselines with the same three hops and the same HTTP delivery; the codec against bare
fastavro; the rules benchmark (bench.bench_rules) when present; tracing exported vs disabled; py-spy
profiles of each worker at the highest load; P1 latency behind a 50,000-referral P4 backlog (bench.priority).
Configurations run in rounds, each round in a rotated order (one unthrottled run per round; the knee grid in
the first); `BENCH_*` variables (bench/settings.py) override the full plan.

    python -m bench.run                 # full run (~35 min on a quiet 2-core machine; printed estimate first)
    python -m bench.run --smoke --out DIR   # every configuration, a few hundred reports: the harness's own test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import accounting, codec_bench, machine, output, priority, profiles, ratios, schedule, stackconfig, targets
from bench.drive import Load, closed_loop, fixed_rate, warm_up
from bench.settings import BenchSettings
from bench.sink import OtlpSink, ReceiverProcess
from bench.stacks import BaselineStack, OurStack, Tuning
from referral_bus import event_loop
from referral_bus.kafka import client_kwargs
from referral_bus.settings import REPO_ROOT, BusSettings, KafkaSettings
from referral_devstack.settings import DevstackSettings
from referral_devstack.workers import temp_workdir

RESULTS = REPO_ROOT / "bench" / "results"
PROFILED = ("ours", "ours_ledger")  # configurations whose workers py-spy samples after their runs


@dataclass
class Plan:
    """What to run; the defaults are the full `make bench`."""

    rates: list[float] = field(default_factory=lambda: [100, 200, 300, 500, 700, 850, 1000, 1400, 2000])
    step_seconds: float = 30.0
    unthrottled_seconds: float = 15.0
    unthrottled_repeats: int = 3
    in_flight: int = 500
    profile_seconds: float = 12.0
    configs: list[str] = field(
        default_factory=lambda: [
            "ours",
            "ours_tracing",
            "ours_sampled",
            "ours_ledger",
            "ours_unbatched",
            "faust",
            "faust_take",
            "aiokafka",
            "aiokafka_httpx",
            "aiokafka_records",
        ]
    )
    stepped: list[str] = field(default_factory=lambda: ["ours", "faust", "aiokafka"])
    codec_records: int = 2000
    codec_repeats: int = 7
    rules: bool = True
    rules_cases: int = 100_000
    rules_naive_cases: int = 20_000
    seed: int = 20261130
    traces_sampled: float = 0.1  # ours_sampled: the share of reports traced whole (BENCH_TRACES_SAMPLER_ARG)
    priority: priority.Scenario | None = field(default_factory=priority.Scenario)  # None: not run
    knee_stop_after: int = 2  # consecutive failing knee steps after which the higher rates are not run
    warm_rate: float = 50.0  # reports/s of each start's unrecorded warm-up (after the first 20 reports arrived)
    warm_seconds: float = 5.0  # its length: first-use costs (connections, caches, lazy imports) land here
    first_warm_seconds: float = 40.0  # the run's first start: also warms a freshly started broker's JVM

    @classmethod
    def smoke(cls) -> Plan:
        """Every configuration of the full plan, the knee grid's configurations included, a few hundred reports."""
        full = cls()
        return cls(
            rates=[50, 100],
            step_seconds=3,
            unthrottled_seconds=3,
            unthrottled_repeats=1,  # one round (rotation and merging: tests/unit/bench)
            in_flight=50,
            profile_seconds=0,
            configs=full.configs,
            stepped=full.stepped,
            codec_records=200,
            codec_repeats=1,
            rules_cases=2000,
            rules_naive_cases=200,
            priority=priority.Scenario.smoke(),
            warm_seconds=1,
            first_warm_seconds=1,
        )

    @classmethod
    def from_settings(cls, settings: BenchSettings | None = None) -> Plan:
        """The full plan with the `BENCH_*` overrides that are set."""
        s, plan = settings or BenchSettings(), cls()
        for name in (
            "configs",
            "stepped",
            "rates",
            "step_seconds",
            "unthrottled_seconds",
            "unthrottled_repeats",
            "warm_seconds",
        ):
            if (value := getattr(s, name)) is not None:
                setattr(plan, name, value)
        if s.knee_stop_after is not None:
            plan.knee_stop_after = s.knee_stop_after
        if s.traces_sampler_arg is not None:
            plan.traces_sampled = s.traces_sampler_arg
        if s.priority_backlog is not None:
            backlog = s.priority_backlog
            plan.priority = replace(priority.Scenario(), backlog=backlog) if backlog else None
        if unknown := [c for c in [*plan.configs, *plan.stepped] if not known_config(c)]:
            raise ValueError(f"BENCH_CONFIGS names unknown configurations {unknown}; known: {cls().configs}")
        return plan


# ours_hops: not in the full plan
OURS = ("ours", "ours_tracing", "ours_sampled", "ours_ledger", "ours_unbatched", "ours_hops")
BASELINES = ("faust", "faust_take", "aiokafka", "aiokafka_records")


def known_config(name: str) -> bool:
    """Ours in one of its variants, or a baseline (with httpx for its last hop: `<baseline>_httpx`)."""
    return name in OURS or name.removesuffix("_httpx") in BASELINES


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


def _stack(
    name: str, plan: Plan, tuning: Tuning, receiver: ReceiverProcess, otlp: OtlpSink | None, namespace: str, work: Path
) -> OurStack | BaselineStack:
    if name in OURS:
        return OurStack(
            name,
            namespace,
            work,
            receiver.base_url,
            tuning,
            otlp_endpoint=otlp.endpoint if (otlp and name in ("ours_tracing", "ours_sampled")) else None,
            traces_sampled=plan.traces_sampled if name == "ours_sampled" else None,
            ledger=name == "ours_ledger",
            batch_max_events=1 if name == "ours_unbatched" else None,
            local_correlation=False if name == "ours_hops" else None,
        )
    return BaselineStack(
        name,
        "aiokafka" if name.startswith("aiokafka") else "faust",
        namespace,
        work,
        receiver.base_url,
        tuning,
        mode="take" if name.startswith("faust_take") else "naive",
        http_client="httpx" if name.endswith("_httpx") else "aiohttp",  # ours posts with aiohttp
        extra_records=name.startswith("aiokafka_records"),
    )


async def _knee_grid(
    name: str, plan: Plan, load: Load, receiver: ReceiverProcess, pids: dict[str, int]
) -> list[dict[str, Any]]:
    """The offered rates in turn (each with its processes' CPU ms per report); once `knee_stop_after` steps in a
    row failed, the rest are recorded as not run."""
    steps: list[dict[str, Any]] = []
    for rate in plan.rates:
        if schedule.past_knee(steps, plan.knee_stop_after):
            steps.append({"offered_per_s": rate, "skipped": schedule.PAST_KNEE})
            continue
        before = accounting.snapshot(pids)
        step = await fixed_rate(load, receiver, rate, plan.step_seconds)
        spent = accounting.spent(before, accounting.snapshot(pids))  # until drained, as the unthrottled run's
        step["cpu_ms_per_report"] = accounting.per_report(step["sent"], spent, {}, {})["cpu_ms_per_report"]
        steps.append(step)
        print(
            f"[{name}] {rate}/s → {step['throughput_per_s']}/s p99 {step['latency_ms']['p99']} ms lost {step['lost']} "
            f"CPU ms/report {step['cpu_ms_per_report']}",
            flush=True,
        )
    return steps


async def _warm(plan: Plan, load: Load, receiver: ReceiverProcess, first: bool) -> dict[str, Any]:
    """Unrecorded open-loop load at `warm_rate`, so no first step pays for first uses (counted in CPU and records)."""
    seconds = plan.first_warm_seconds if first else plan.warm_seconds
    if seconds <= 0:
        return {"sent": 0, "seconds": 0}
    run = await fixed_rate(load, receiver, plan.warm_rate, seconds)
    return {"sent": run["sent"], "seconds": seconds, "rate": plan.warm_rate, "p99_ms": run["latency_ms"]["p99"]}


async def run_config(
    name: str,
    plan: Plan,
    tuning: Tuning,
    receiver: ReceiverProcess,
    otlp: OtlpSink | None,
    prefix: str,
    outdir: Path,
    round_no: int = 0,
    first: bool = False,
) -> dict[str, Any]:
    """One round of one configuration: start its stack, warm it up, (last round: the knee grid), one unthrottled
    run, (last round: profiles), its accounting, stop it. Each round has its own topic namespace."""
    namespace = f"{prefix}-{name.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    result: dict[str, Any] = {"round": round_no}
    last = round_no == schedule.knee_round(plan.unthrottled_repeats)
    with temp_workdir(prefix="bench-") as work:
        stack = _stack(name, plan, tuning, receiver, otlp, namespace, work)
        if isinstance(stack, BaselineStack):
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
                if (broker := accounting.broker_pid()) is not None:
                    result["broker_age_s"] = accounting.age_seconds(broker)
                print(f"[{name}] round {round_no + 1}: ready in {result['start_seconds']} s", flush=True)
                result["warm"] = await _warm(plan, load, receiver, first)
                if last and name in plan.stepped:
                    result["steps"] = await _knee_grid(name, plan, load, receiver, _pids(stack, receiver))
                if round_no < plan.unthrottled_repeats:
                    run_cpu = accounting.snapshot(_pids(stack, receiver))
                    run = await closed_loop(
                        load,
                        receiver,
                        plan.unthrottled_seconds,
                        in_flight=plan.in_flight,
                        warm_s=min(3.0, plan.unthrottled_seconds / 3),
                    )
                    spent = accounting.spent(run_cpu, accounting.snapshot(_pids(stack, receiver)))  # until drained
                    per = accounting.per_report(run["sent"], spent, {}, {})["cpu_ms_per_report"]
                    result["run"] = run | {"round": round_no, "cpu_ms_per_report": per}
                    print(
                        f"[{name}] unthrottled → {run['throughput_per_s']}/s p99 {run['latency_ms']['p99']} ms "
                        f"lost {run['lost']}",
                        flush=True,
                    )
                reports = 20 + result["warm"]["sent"] + sum(st.get("sent", 0) for st in result.get("steps", []))
                reports += result["run"]["sent"] if "run" in result else 0
                result["accounting"] = await _accounting(_pids(stack, receiver), namespace, cpu_before, reports)
                result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
                if last and name in PROFILED and plan.profile_seconds > 0 and profiles.available():
                    where = outdir if name == "ours" else outdir / name  # ours_ledger's workers in their own folder
                    result["profiles"] = await _profile(stack, load, receiver, plan, where)
        finally:
            await asyncio.to_thread(stack.stop)
            await _delete_topics(namespace)
    result["seconds"] = round(time.monotonic() - t, 1)
    return result


def merge_rounds(rounds: list[dict[str, Any]], in_flight: int) -> dict[str, Any]:
    """One configuration's rounds as one result: its knee grid, its unthrottled runs (medians), accounting summed."""
    described = [r["description"] for r in rounds if "description" in r]
    out: dict[str, Any] = {"description": described[0] if described else {}, "rounds": []}
    if errors := [{"round": r["round"], "error": r["error"]} for r in rounds if "error" in r]:
        out["errors"] = errors
    for r in rounds:
        if "steps" in r:
            out["steps"] = r["steps"]
        if "profiles" in r:
            out["profiles"] = r["profiles"]
        out["rounds"].append(
            {
                k: r[k]
                for k in (
                    "round",
                    "start_seconds",
                    "broker_age_s",
                    "warm",
                    "seconds",
                    "load_average_before",
                    "load_average_after",
                )
                if k in r
            }
            | {"accounting": r.get("accounting")}
        )
    runs = [r["run"] for r in rounds if "run" in r]
    if runs:
        out["unthrottled"] = {
            "in_flight": in_flight,
            "runs": runs,
            "median_throughput_per_s": statistics.median(r["throughput_per_s"] for r in runs),
            "median_latency_ms": _median_latency(runs),
            "lost": sum(r["lost"] for r in runs),
            "duplicates": sum(r["duplicates"] for r in runs),
        }
    out["load_average"] = [
        {
            "round": r["round"],
            "before": r.get("load_average_before"),
            "after": r.get("load_average_after"),
            "broker_age_s": r.get("broker_age_s"),
        }
        for r in rounds
        if "load_average_before" in r
    ]
    out["accounting"] = accounting.combine([r["accounting"] for r in rounds if r.get("accounting")])
    return out


def _pids(stack: OurStack | BaselineStack, receiver: ReceiverProcess) -> dict[str, int]:
    return {**stack.pids(), **({"receiver": receiver.pid} if receiver.pid else {})}


async def _accounting(
    pids: dict[str, int], namespace: str, cpu_before: dict[str, float], reports: int
) -> dict[str, Any]:
    """CPU seconds per process and records per topic, in all and per report, for one round of a configuration."""
    cpu = accounting.spent(cpu_before, accounting.snapshot(pids))
    commits = await accounting.wait_committed(namespace)  # the groups' last commits, before counting them
    produced = await accounting.records_per_topic(namespace)
    consumed = await accounting.records_consumed_per_topic(namespace)
    return accounting.per_report(reports, cpu, produced, consumed) | {"commit_wait": commits}


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


def _rules(plan: Plan, out: Path) -> dict[str, Any]:
    """Reuse the rules engine's own benchmark when it exists (its JSON written next to the run's)."""
    if not plan.rules:
        return {"skipped": "not in this plan"}
    if not (REPO_ROOT / "bench" / "bench_rules.py").exists():
        return {"skipped": "bench/bench_rules.py is not there yet"}
    path = out / "rules.json"
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.bench_rules",
                "--cases",
                str(plan.rules_cases),
                "--naive-cases",
                str(plan.rules_naive_cases),
                "--out",
                str(path),
            ],
            cwd=REPO_ROOT,
            check=True,
            timeout=600,
        )
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return result
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        return {"error": f"bench.bench_rules failed: {type(exc).__name__}"}


PAIRED = (  # summary key, numerator, denominator: each also paired by round and by CPU per report
    ("ratio_to_faust", "ours", "faust"),
    ("ratio_to_faust_take", "ours", "faust_take"),
    ("ratio_to_aiokafka", "ours", "aiokafka"),
    ("tracing_on_to_off", "ours_tracing", "ours"),
    ("tracing_sampled_to_off", "ours_sampled", "ours"),  # beside the target: a share of reports traced, whole
    ("ledger_on_to_off", "ours_ledger", "ours"),  # the ledger worker and per-case sealing, against without them
    ("batched_to_unbatched", "ours", "ours_unbatched"),  # the batch loop, against one event at a time
    ("records_baseline_to_aiokafka", "aiokafka_records", "aiokafka"),  # what our records a report cost the loops
    ("ratio_to_aiokafka_records", "ours", "aiokafka_records"),  # ours against loops writing as many records
)


def _worker_cpu(e2e: dict[str, Any], name: str) -> float | None:
    """CPU ms per report of a configuration's worker processes together, over all its rounds."""
    return ratios.workers_cpu_ms(e2e.get(name, {}).get("accounting", {}).get("cpu_ms_per_report"))


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    e2e = results["e2e"]

    def top(name: str) -> float | None:
        un = e2e.get(name, {}).get("unthrottled")
        return float(un["median_throughput_per_s"]) if un else None

    s: dict[str, Any] = {}
    ours = top("ours")
    for key, num, den in PAIRED:  # key: ratio of medians; key_paired, key_cpu: medians of per-round pairs
        found = ratios.compare(e2e.get(num), e2e.get(den))
        s |= {key if part == "of_medians" else f"{key}_{part}": v for part, v in found.items()}
    for num, den, key in (
        ("faust_take", "faust", "faust_take_to_faust"),
        ("faust", "aiokafka", "faust_to_aiokafka"),
        ("aiokafka_httpx", "aiokafka", "httpx_to_aiohttp_aiokafka"),
    ):
        a, b = top(num), top(den)
        if a and b:
            s[key] = round(a / b, 3)
    if (cpu := _worker_cpu(e2e, "ours")) and (cpu_ledger := _worker_cpu(e2e, "ours_ledger")):
        s["ledger_cpu_off_to_on"] = round(cpu / cpu_ledger, 3)  # less load-sensitive than the throughput ratio
    if (hops := top("ours_hops")) and ours:  # intake's correlation here, against every report through the hops
        s["here_to_hops"] = round(ours / hops, 3)
    if (cpu := _worker_cpu(e2e, "ours")) and (cpu_hops := _worker_cpu(e2e, "ours_hops")):
        s["here_cpu_hops_to_here"] = round(cpu_hops / cpu, 3)
    for name, cfg in e2e.items():
        if cfg.get("steps"):
            s["knee_per_s" if name == "ours" else f"knee_{name}_per_s"] = schedule.knee(cfg["steps"])
    if (share := e2e.get("ours_sampled", {}).get("description", {}).get("traces_sampled")) is not None:
        s["tracing_sampled_share"] = share
    if (prio := results.get("priority")) and "error" not in prio:  # target: < 1 s behind the 50,000 P4
        s["p1_p99_ms_with_p4_backlog"] = prio["p1_latency_ms"]["p99"]
        s["p4_backlog"] = prio["scenario"]["backlog"]
    return s


async def _e2e(
    plan: Plan, tuning: Tuning, prefix: str, profiles_dir: Path, timings: dict[str, float]
) -> tuple[dict[str, Any], list[list[str]], dict[str, Any]]:
    """Every configuration, round after round in rotating order: their merged results, the orders, the OTLP sink."""
    receiver, otlp = ReceiverProcess(), OtlpSink()
    await receiver.start()
    await otlp.start()
    rounds, orders = schedule.rounds_of(plan.unthrottled_repeats), []
    per_config: dict[str, list[dict[str, Any]]] = {name: [] for name in plan.configs}
    try:
        for round_no in range(rounds):
            order = schedule.rotated(plan.configs, round_no, rounds)
            orders.append(order)
            t = time.monotonic()
            for name in order:
                first = round_no == 0 and name == order[0]  # the run's first start also warms the broker
                try:
                    done = await run_config(name, plan, tuning, receiver, otlp, prefix, profiles_dir, round_no, first)
                except Exception as exc:  # one configuration's failure must not cost the run's other figures
                    done = {"round": round_no, "error": f"{type(exc).__name__}: {str(exc)[:2000]}"}
                    print(f"[{name}] round {round_no + 1} FAILED: {done['error'][:300]}", flush=True)
                per_config[name].append(done)
            timings[f"round_{round_no + 1}"] = round(time.monotonic() - t, 1)
        sink = {"requests": otlp.requests, "bytes": otlp.bytes}
    finally:
        await receiver.stop()
        await otlp.stop()
    return {name: merge_rounds(r, plan.in_flight) for name, r in per_config.items()}, orders, sink


def _tuning(bench: BenchSettings) -> Tuning:
    """The services' defaults, but for what BENCH_* names (fetch, fetch gathering, batch loop, lingers)."""
    tuning = Tuning(partitions=KafkaSettings().topic_partitions)

    def chosen(value: Any, default: Any) -> Any:
        return default if value is None else value

    return replace(
        tuning,
        consumer_fetch_min_bytes=chosen(bench.fetch_min_bytes, tuning.consumer_fetch_min_bytes),
        consumer_fetch_max_wait_ms=chosen(bench.fetch_max_wait_ms, tuning.consumer_fetch_max_wait_ms),
        consumer_fetch_gather_max_wait_ms=chosen(
            bench.fetch_gather_max_wait_ms, tuning.consumer_fetch_gather_max_wait_ms
        ),
        consumer_fetch_gather_min_bytes=chosen(bench.fetch_gather_min_bytes, tuning.consumer_fetch_gather_min_bytes),
        batch_max_events=chosen(bench.batch_max_events, tuning.batch_max_events),
        batch_window_ms=chosen(bench.batch_window_ms, tuning.batch_window_ms),
        service_linger_ms=tuning.service_linger_ms | dict(bench.service_linger_ms or {}),
    )


async def main_async(plan: Plan, out: Path, prefix: str) -> dict[str, Any]:
    started = datetime.now(UTC)
    t_start = time.monotonic()
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    tuning = _tuning(BenchSettings())
    estimate = schedule.estimate_seconds(plan)
    print(
        f"bench: {len(plan.configs)} configurations × {schedule.rounds_of(plan.unthrottled_repeats)} rounds, knee grid "
        f"{plan.rates} × {plan.step_seconds:g} s for {plan.stepped}; estimated {estimate['total'] / 60:.0f} min "
        f"on a quiet machine ({', '.join(f'{k} {v} s' for k, v in estimate.items() if k != 'total')})",
        flush=True,
    )
    timings: dict[str, float] = {}
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "git": accounting.git_commit(),
        "machine": machine.describe(),
        "parameters": {
            **{k: v for k, v in asdict(plan).items()},
            "tuning": asdict(tuning),
            "worker_settings": tuning.service_env(),
            "baseline_settings": tuning.baseline_env(),
            "bench_settings": BenchSettings().model_dump(exclude_none=True),
            "processes_per_pipeline": 3,
            "referrals_per_report": 1,
            "correlation_claims_per_day": stackconfig.CLAIMS_PER_DAY,
            "reports": "adult victims who consented (the only cases the shipped safeguards let make exactly one "
            "referral), 34 provinces, fixed seed",
            "load_generator": "one aiokafka producer (acks=all, linger 5 ms) in the runner process, "
            "which also hosts the OTLP sink; the HTTP receiver runs in its own process",
            "latency": "receiver arrival (epoch ms) − report received_at: in the stepped runs the report's "
            "scheduled send time (reports encoded before the clock starts: no coordinated omission), in the "
            "unthrottled runs the time it was produced",
            "knee": f"a step passes with p99 < {schedule.KNEE_P99_MS:g} ms, nothing lost and ≥ 90 % of the offered "
            f"rate carried; after {plan.knee_stop_after} failing steps in a row the higher rates are "
            f"'{schedule.PAST_KNEE}'",
            "rounds": "every configuration starts once per round (fresh topic namespace, same broker); the knee grid "
            "and the profiles run in the last round (the broker has then run longest: each round's broker_age_s), "
            "one unthrottled run in each; each round's order is the configuration list rotated (results 'order')",
            "cpu": "utime + stime from /proc/<pid>/stat per worker, the broker, the driver and the receiver, from "
            "warm-up to the end of each round (profiling excluded), summed over the rounds",
            "records": "produced: end offsets of the configuration's topics; consumed: committed offsets of its "
            "consumer groups, read once every group has committed up to the end of the topics it reads (at most "
            f"{accounting.COMMIT_WAIT_SECONDS:g} s, after the CPU snapshot; each round's accounting 'commit_wait' "
            "says how long and, had the deadline passed, which groups were behind by how many records); summed "
            "over the rounds, per report = ÷ reports sent (warm-ups included)",
            "warm_up": f"every start: 20 reports, then {plan.warm_seconds:g} s at {plan.warm_rate:g} reports/s "
            f"({plan.first_warm_seconds:g} s for the run's first start, which also warms a fresh broker's JVM), "
            "unrecorded but counted in CPU and records per report (results e2e.<name>.rounds[].warm)",
            "unthrottled": "closed loop: in_flight reports between produce and arrival for unthrottled_seconds; "
            "throughput counted over its steady window, from when the opening burst (the first in_flight reports) "
            "has arrived, and not before 3 s, to the last send (each run's window_from_s, window_s; "
            "throughput_whole_window_per_s: counted from 3 s, the figure before 3 December); per_second: deliveries "
            "in each second from the first send; cpu_ms_per_report: each process's utime + stime from the first send "
            "until every report arrived, ÷ reports sent; median over the rounds",
            "ratios": "each ratio target (summary ratio_to_aiokafka, ratio_to_faust_take, tracing_on_to_off, …) as "
            "the median of per-round pairs (<key>_paired, each in <key>_per_round: round i of one configuration ÷ "
            "round i of the other), beside the ratio of medians (<key>); by CPU (<key>_cpu_paired, _cpu_per_round): "
            "the denominator's workers' CPU ms per report ÷ the numerator's in the same round (secondary: the "
            "issue's targets are throughput ratios)",
        },
        "estimate_seconds": estimate,
        "e2e": {},
    }
    print("codec …", flush=True)
    t = time.monotonic()
    results["codec"] = await asyncio.to_thread(codec_bench.run, plan.codec_records, plan.codec_repeats)
    timings["codec"] = round(time.monotonic() - t, 1)
    results["e2e"], results["order"], results["otlp_sink"] = await _e2e(
        plan, tuning, prefix, out / "profiles" / stamp, timings
    )
    if plan.priority is not None:
        print("priority lanes: P1 behind a P4 backlog …", flush=True)
        t = time.monotonic()
        try:
            results["priority"] = await priority.run(plan.priority, f"{prefix}-prio-{uuid.uuid4().hex[:6]}", tuning)
            print(f"[priority] P1 p99 {results['priority']['p1_latency_ms']['p99']} ms", flush=True)
        except Exception as exc:  # as a configuration's failure: recorded, the other figures kept
            results["priority"] = {"error": f"{type(exc).__name__}: {str(exc)[:2000]}"}
            print(f"[priority] FAILED: {results['priority']['error'][:300]}", flush=True)
        timings["priority"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    results["rules"] = await asyncio.to_thread(_rules, plan, out)
    timings["rules"] = round(time.monotonic() - t, 1)
    results["summary"] = _summary(results)
    results["targets"] = targets.evaluate(results)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    timings["total"] = round(time.monotonic() - t_start, 1)
    results["timings_seconds"] = timings
    text = json.dumps(results, indent=2, default=str)
    (out / f"{stamp}.json").write_text(text, encoding="utf-8")
    (out / "latest.json").write_text(text, encoding="utf-8")
    table = output.markdown(results)
    (out / "latest.md").write_text(f"# Benchmark {results['started_at']}\n\n{table}", encoding="utf-8")
    output.chart(results, out / "latest.png")
    print()
    print(table)
    print(f"results: {out / (stamp + '.json')}, {out / 'latest.md'}, {out / 'latest.png'}")
    for name, cfg in results["e2e"].items():
        for e in cfg.get("errors", []):
            print(f"FAILED: {name} round {e['round'] + 1}: {e['error'][:1000]}", file=sys.stderr)
    if "error" in results.get("priority", {}):
        print(f"FAILED: priority: {results['priority']['error'][:1000]}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="every configuration, two rates, a few hundred reports")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default bench/results)")
    parser.add_argument(
        "--namespace",
        default=BusSettings().namespace or "bench",
        help="topic prefix for this run's stacks",
    )
    parser.add_argument(
        "--configs",
        help="comma-separated subset of: ours, ours_tracing, ours_sampled (tracing exported for a share of reports, "
        "BENCH_TRACES_SAMPLER_ARG, default 0.1), ours_ledger, ours_unbatched, ours_hops (every report "
        "through the correlation hops: INTAKE_LOCAL_CORRELATION=false; not in the full plan), faust, faust_take, "
        "aiokafka, aiokafka_records (the loops also writing the records our workers write a report), and *_httpx "
        "variants of the baselines (httpx instead of aiohttp for the last hop)",
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
    plan = Plan.smoke() if args.smoke else Plan.from_settings()
    if args.configs:
        plan.configs = args.configs.split(",")
        if unknown := [c for c in plan.configs if not known_config(c)]:
            parser.error(f"--configs names unknown configurations {unknown}; known: {Plan().configs}")
    if shutil.which("java") is None and DevstackSettings().kafka_bootstrap_servers is None:
        print("note: no java on PATH; expecting a broker at 127.0.0.1:9092 already", file=sys.stderr)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the stacks on the way out, like Ctrl-C
    results = event_loop.run(main_async(plan, args.out, args.namespace))  # the driver on EVENT_LOOP too
    failed = any(cfg.get("errors") for cfg in results["e2e"].values()) or "error" in results.get("priority", {})
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
