"""Soak helpers: sample each worker's memory and table sizes, time a restart, acknowledge deliveries.

Everything is read from outside the workers, as an operator would: RSS from /proc, table sizes and
events from each worker's /metrics (`referral_bus_table_entries`, `referral_bus_events_in_total`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from referral_bus import topics
from referral_bus.codec import Codec
from tests.support.harness import Stack, client, log

METRIC_LINE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>[0-9.eE+-]+)$")
def short_window_env(seconds: float, sweep_s: float) -> dict[str, str]:
    """Worker settings with every expiry window `seconds` long, swept every `sweep_s` seconds."""
    days, hours = seconds / 86_400, seconds / 3_600
    env = {
        "INTAKE_DEDUP_WINDOW_DAYS": f"{days:.8f}",
        "INTAKE_CORRELATION_WINDOW_HOURS": f"{hours:.6f}",
        "NOTIFIER_REFERRAL_RETENTION_DAYS": f"{days:.8f}",
        "ROUTING_LINKED_WINDOW_HOURS": f"{hours:.6f}",
        # past the window, long enough for a report read again after a kill -9 and restart
        "INTAKE_REPLAY_GRACE_SECONDS": str(max(30.0, seconds)),
    }
    env.update({f"{s}_EXPIRY_INTERVAL_SECONDS": str(sweep_s) for s in ("INTAKE", "ROUTING", "NOTIFIER")})
    return env


def metrics_of(port: int) -> dict[tuple[str, str], float]:
    """(metric name, labels text) → value from a worker's /metrics; {} when it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    out = {}
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if m:
            out[(m["name"], m["labels"])] = float(m["value"])
    return out


def label(labels: str, name: str) -> str | None:
    """One label's value from a labels text."""
    m = re.search(rf'{name}="([^"]*)"', labels)
    return m[1] if m else None


def table_sizes(port: int) -> dict[str, int]:
    """Entries per table on one worker."""
    rows = metrics_of(port)
    return {str(label(lbl, "table")): int(v) for (name, lbl), v in rows.items() if name == "referral_bus_table_entries"}


def events_in(port: int, stage: str) -> float:
    """Events the worker's stage took in since it started."""
    rows = metrics_of(port)
    return sum(
        v for (n, lbl), v in rows.items() if n == "referral_bus_events_in_total" and label(lbl, "stage") == stage
    )


def answers_ready(port: int) -> bool:
    """Whether a worker's /readyz answers 200."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process, MiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


@dataclass
class Sample:
    """One sampling of every worker."""

    t: float
    produced: int
    delivered: int
    rss: dict[str, float | None]
    tables: dict[str, dict[str, int]]

    def line(self) -> str:
        """One line of the soak log."""
        parts = [f"t={self.t:7.0f}s produced={self.produced:6d} delivered={self.delivered:6d}"]
        for name in sorted(self.rss):
            rss = self.rss[name]
            sizes = " ".join(f"{k}={v}" for k, v in sorted(self.tables.get(name, {}).items()))
            parts.append(f"{name}: rss={rss:.1f}MiB {sizes}" if rss is not None else f"{name}: down")
        return " | ".join(parts)


@dataclass
class Soak:
    """The running soak's record: samples and restart recovery times."""

    stack: Stack
    out: Path
    started: float = field(default_factory=time.monotonic)
    produced: int = 0
    all_produced: bool = False  # the stream is over: a restarted worker may have nothing left to read
    samples: list[Sample] = field(default_factory=list)
    recoveries: list[tuple[str, str, float]] = field(default_factory=list)  # (when, worker, seconds)

    def write(self, text: str) -> None:
        """Log a line and append it to the output file."""
        log(text)
        with self.out.open("a", encoding="utf-8") as f:
            f.write(text + "\n")

    def sample(self) -> Sample:
        """RSS and table sizes of every worker now."""
        w = self.stack.workers
        assert w is not None
        rss = {n: rss_mb(p.pid) if p.poll() is None else None for n, p in w.procs.items()}
        sizes = {n: table_sizes(w.ports[n]) for n in w.procs}
        s = Sample(time.monotonic() - self.started, self.produced, len(self.stack.receiver.deliveries()), rss, sizes)
        self.samples.append(s)
        self.write(s.line())
        return s

    async def sampling(self, every: float) -> None:
        """Sample every `every` seconds until cancelled."""
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(every)

    async def recovery(self, when: str, name: str, timeout: float = 300.0) -> float:
        """kill -9 `name`, start it again at once; seconds until it takes in events again."""
        w = self.stack.workers
        assert w is not None
        t0 = time.monotonic()
        await asyncio.to_thread(w.stop, name, signal.SIGKILL)
        w.start(name)
        while time.monotonic() - t0 < timeout:
            busy = await asyncio.to_thread(events_in, w.ports[name], name) > 0
            # once the stream is over (a slow restart before this one), being ready is all it can show
            if busy or (self.all_produced and await asyncio.to_thread(answers_ready, w.ports[name])):
                took = time.monotonic() - t0
                self.recoveries.append((when, name, took))
                what = "processing again" if busy else "ready (the stream was over)"
                self.write(f"recovery {when}: {name} killed (-9) and restarted, {what} after {took:.1f}s")
                return took
            await asyncio.sleep(0.2)
        raise AssertionError(f"{name} did not process again within {timeout}s:\n{w.tail(name)}")


async def produce_steadily(soak: Soak, records: list[tuple[bytes, bytes]], rate: float) -> None:
    """Produce `records` in order at `rate` per second on an absolute schedule (no drift), counting them."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client(soak.stack.bootstrap), acks="all", enable_idempotence=True)
    await producer.start()
    start, batch = time.monotonic(), max(1, int(rate))
    try:
        for i in range(0, len(records), batch):
            futures = [await producer.send(topics.name(topics.INTAKE), v, key=k) for k, v in records[i : i + batch]]
            for fut in futures:
                await fut
            soak.produced = i + len(futures)
            await asyncio.sleep(max(0.0, start + soak.produced / rate - time.monotonic()))
        soak.all_produced = True
    finally:
        await producer.stop()


async def acknowledge(stack: Stack, soak: Soak, *, after_s: float = 30.0, every: float = 1.0) -> None:
    """Acknowledge (COMPLETED) each delivered referral `after_s` after delivery, as a recipient would; until cancelled.

    Through the shared acks topic (as the notifier's endpoint writes it), so referrals close and their
    state can expire; no escalation fires for an acknowledged referral. Half a minute after delivery:
    a referral delivered just before a kill -9 is replayed after the restart, and an ack that overtook
    the replay would meet no state (the ack race of issue 15, not what the soak measures).
    """
    from aiokafka import AIOKafkaProducer

    codec = Codec()
    producer = AIOKafkaProducer(**client(stack.bootstrap), acks="all")
    await producer.start()
    done: set[str] = set()
    seen = 0
    try:
        while True:
            deliveries = stack.receiver.deliveries()
            now = int(time.time() * 1000)
            for d in deliveries[seen:]:
                if now - d.at_ms < after_s * 1000:
                    break
                seen += 1
                doc: dict[str, Any] = d.json()
                if doc["referral_id"] in done:
                    continue
                done.add(doc["referral_id"])
                ack = {
                    "referral_id": doc["referral_id"],
                    "recipient_id": d.recipient_id,
                    "outcome": "COMPLETED",
                    "reason": None,
                    "acknowledged_at": now,
                }
                await producer.send(
                    topics.name(topics.ACKS), codec.encode("Acknowledgement", ack), key=doc["case_id"].encode()
                )
            await producer.flush()
            await asyncio.sleep(every)
    finally:
        await producer.stop()


async def compact_quickly(bootstrap: str, tables: list[tuple[str, str]]) -> None:
    """Let the broker compact the changelogs during the soak: roll segments every minute, drop tombstones after one.

    The local broker rolls a segment at 64 MiB; a compacted topic is cleaned only in closed segments, so
    without this a 30-minute soak would replay every write of the run on a restart, tombstoned or not.
    """
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from referral_bus.topic_catalog import changelog, changelog_config

    quick = {"segment.ms": "60000", "delete.retention.ms": "60000", "min.cleanable.dirty.ratio": "0.1"}
    resources = [  # alter_configs replaces a topic's whole set: the declared settings go with it
        ConfigResource(ConfigResourceType.TOPIC, topics.name(changelog(s, t)), {**changelog_config(s, t), **quick})
        for s, t in tables
    ]
    admin = AIOKafkaAdminClient(**client(bootstrap))
    await admin.start()
    try:
        for response in await admin.alter_configs(resources):
            failed = [r for r in response.resources if r[0] != 0]
            assert not failed, f"changelog settings not altered: {failed}"
    finally:
        await admin.close()
