"""Who paid for a run: CPU seconds per process from /proc, records produced per topic from end offsets and
records consumed per topic from the consumer groups' committed offsets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus.kafka import client_kwargs
from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_devstack import processes
from referral_devstack.broker import LocalBroker

TICKS = os.sysconf("SC_CLK_TCK")
COMMIT_WAIT_SECONDS = 60.0  # a group's last commit comes within a commit interval (1 s) of its last record


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the process name (field 3 of proc(5) is index 0), or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (seconds), or None when it is gone."""
    if (fields := _stat(pid)) is None:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5)


async def idle_rate(pid: int, seconds: float) -> float:
    """CPU seconds per second a process spends over `seconds` with nothing to do (its polling floor)."""
    before, start = cpu_seconds(pid) or 0.0, time.monotonic()
    await asyncio.sleep(seconds)
    return ((cpu_seconds(pid) or 0.0) - before) / (time.monotonic() - start)


def age_seconds(pid: int) -> float | None:
    """Seconds since a process started (from /proc: its start time after boot), or None when it is gone."""
    if (fields := _stat(pid)) is None:
        return None
    with open("/proc/uptime", encoding="ascii") as f:
        up = float(f.read().split()[0])
    return round(up - int(fields[19]) / TICKS, 1)  # field 22 of proc(5): start time after boot


def broker_pid() -> int | None:
    """The local broker's pid: from its pid file, else the one `kafka.Kafka` process of this machine (None: none)."""
    if (pid := processes.running_pid(LocalBroker().pid_file)) is not None:
        return pid
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" in args:
            found.append(int(cmdline.parent.name))
    return found[0] if len(found) == 1 else None


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of every named process, the broker and this driver."""
    out = {name: s for name, pid in pids.items() if (s := cpu_seconds(pid)) is not None}
    if (b := broker_pid()) is not None and (s := cpu_seconds(b)) is not None:
        out["broker"] = s
    t = os.times()
    out["driver"] = t.user + t.system
    return out


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, per process."""
    return {n: round(after[n] - before[n], 2) for n in after if n in before}


async def records_per_topic(prefix: str) -> dict[str, int]:
    """Records written to each topic whose name starts with `prefix` (sum of end offsets)."""
    kw = client_kwargs(KafkaSettings())
    admin = AIOKafkaAdminClient(**kw)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        described = await admin.describe_topics(names) if names else []
    finally:
        await admin.close()
    parts = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d.get("partitions", [])]
    if not parts:
        return {}
    consumer = AIOKafkaConsumer(**kw, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    out: dict[str, int] = {}
    for tp, end in ends.items():
        short = tp.topic[len(prefix) :].lstrip(".-")
        out[short] = out.get(short, 0) + end
    return dict(sorted(out.items()))


async def records_consumed_per_topic(prefix: str) -> dict[str, int]:
    """Records consumed from each topic by the consumer groups whose names start with `prefix` (committed offsets)."""
    admin = AIOKafkaAdminClient(**client_kwargs(KafkaSettings()))
    await admin.start()
    out: dict[str, int] = {}
    try:
        groups = [g[0] for g in await admin.list_consumer_groups() if str(g[0]).startswith(prefix)]
        for group in groups:
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items():
                if meta.offset > 0:
                    short = tp.topic[len(prefix) :].lstrip(".-") if tp.topic.startswith(prefix) else tp.topic
                    out[short] = out.get(short, 0) + meta.offset
    finally:
        await admin.close()
    return dict(sorted(out.items()))


async def commit_lag(prefix: str) -> dict[str, int]:
    """Records each consumer group whose name starts with `prefix` has not committed yet, on the topics it commits
    on (every partition of them: end offset − committed offset, a partition never committed counting whole)."""
    kw = client_kwargs(KafkaSettings())
    admin = AIOKafkaAdminClient(**kw)
    await admin.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups() if str(g[0]).startswith(prefix)]
        committed = {group: await admin.list_consumer_group_offsets(group) for group in groups}
        names = sorted({tp.topic for offsets in committed.values() for tp in offsets})
        described = await admin.describe_topics(names) if names else []
    finally:
        await admin.close()
    parts = {d["topic"]: [p["partition"] for p in d.get("partitions", [])] for d in described}
    consumer = AIOKafkaConsumer(**kw, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, ps in parts.items() for p in ps])
    finally:
        await consumer.stop()
    lag: dict[str, int] = {}
    for group, offsets in committed.items():
        done = {tp: max(0, meta.offset) for tp, meta in offsets.items()}
        mine = [TopicPartition(t, p) for t in {tp.topic for tp in offsets} for p in parts.get(t, [])]
        lag[str(group)] = sum(max(0, ends.get(tp, 0) - done.get(tp, 0)) for tp in mine)
    return lag


async def wait_committed(prefix: str, timeout: float = COMMIT_WAIT_SECONDS) -> dict[str, Any]:
    """Poll until every group of `prefix` has committed up to the end of the topics it reads (its last commit may
    come up to a commit interval after its last record), or `timeout` passes; what the wait found, for the results."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        behind = {g: n for g, n in (await commit_lag(prefix)).items() if n}
        if not behind or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.5)
    return {"seconds": round(time.monotonic() - start, 1), "caught_up": not behind, "behind": behind}


def per_report(
    reports: int, cpu: dict[str, float], produced: dict[str, int], consumed: dict[str, int]
) -> dict[str, Any]:
    """One configuration's accounting: the totals and each divided by the reports sent."""
    n = max(1, reports)
    return {
        "reports": reports,
        "cpu_seconds": cpu,
        "cpu_ms_per_report": {k: round(1000 * v / n, 3) for k, v in cpu.items()},
        "records_per_topic": produced,
        "records_consumed_per_topic": consumed,
        "records_per_report_per_topic": {k: round(v / n, 3) for k, v in produced.items()},
        "records_consumed_per_report_per_topic": {k: round(v / n, 3) for k, v in consumed.items()},
        "records_per_report": round(sum(produced.values()) / n, 2),
        "records_consumed_per_report": round(sum(consumed.values()) / n, 2),
    }


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The accounting of several rounds of one configuration as one (totals summed, then divided)."""

    def add(key: str) -> dict[str, Any]:
        total: dict[str, Any] = {}
        for r in rounds:
            for k, v in r.get(key, {}).items():
                total[k] = total.get(k, 0) + v
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in sorted(total.items())}

    waits = [r["commit_wait"] for r in rounds if "commit_wait" in r]
    return per_report(
        sum(r["reports"] for r in rounds),
        add("cpu_seconds"),
        add("records_per_topic"),
        add("records_consumed_per_topic"),
    ) | ({"commits_caught_up": all(w["caught_up"] for w in waits)} if waits else {})


def git_commit() -> dict[str, Any]:
    """The commit benchmarked and whether the tree had changes on top of it."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(git("status", "--porcelain"))}
