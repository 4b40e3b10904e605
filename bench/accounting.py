"""Who paid for a run: CPU seconds per process from /proc, records per topic from end offsets."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus.kafka import client_kwargs
from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_devstack import processes
from referral_devstack.broker import LocalBroker

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (seconds), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5), counted after the name


def broker_pid() -> int | None:
    """The local broker's pid, when this machine runs it."""
    return processes.running_pid(LocalBroker().pid_file)


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


def git_commit() -> dict[str, Any]:
    """The commit benchmarked and whether the tree had changes on top of it."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(git("status", "--porcelain"))}
