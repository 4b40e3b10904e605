"""Statistics through the real broker: a real stats worker reads a few thousand generated cases (with
decisions, receipts, dead letters and replayed duplicates) over several weeks and provinces, is killed
(-9) half-way and restarted, and publishes figures that equal counts computed independently from the
same input, with every count below k suppressed, a true zero published, and provinces under the
minimum withheld; the same figures as an uninterrupted computation over the retained topics."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.settings import KafkaSettings
from referral_cli.commands.stats import published, recompute
from referral_devstack.reading import read_topic
from referral_devstack.workers import Workers, temp_workdir
from services.stats.settings import StatsSettings
from tests.support.stats import Input, chromium, generate

pytestmark = [pytest.mark.kafka]

K, MIN_TOTAL = 5, 10
# the killed member leaves the group after this, not after the default minute
FAST_GROUP = {"BROKER_SESSION_TIMEOUT": "8", "BROKER_HEARTBEAT_INTERVAL": "1"}
TABLES = {
    "cases_by_category_province": "cases",
    "cases_by_age_band": "age",
    "cases_by_sex": "sex",
    "cases_by_agency_kind": "agency_kind",
    "cases_by_platform": "platform",
    "linked_reports_by_category": "linked",
    "cross_border_cases_by_partner_country": "cross_border",
    "referrals_by_recipient_kind_province": "referrals",
    "acknowledged_by_recipient_kind_province": "acknowledged",
    "acknowledged_within_sla_by_recipient_kind_province": "acknowledged_within_sla",
    "escalations_by_recipient_kind_province": "escalations",
    "declines_by_recipient_kind_province": "declines",
    "dead_letters_by_reason": "dl_reason",
    "dead_letters_by_agency": "dl_agency",
}


async def _produce(kafka: str, codec: Codec, items: list[tuple[str, str, dict[str, Any]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=20, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topics.name(topic), codec.encode(record, value), key=key.encode())
            for topic, record, value in items
            for key in [value.get("case_id") or value["original_key"].decode()]
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _items(data: Input) -> list[tuple[str, str, dict[str, Any]]]:
    return (
        [(topics.CASES, "Case", c) for c in data.cases]
        + [(topics.DECISIONS, "RoutingDecision", d) for d in data.decisions]
        + [(topics.RECEIPTS, "DeliveryReceipt", r) for r in data.receipts]
        + [(topics.DEADLETTER, "DeadLetter", d) for d in data.dead_letters]
    )


async def _committed(kafka: str, group: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        total = 0
        for p in range(KafkaSettings().topic_partitions):
            total += await consumer.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        await consumer.stop()


def check_week(record: dict[str, Any], expected: dict[str, Counter[tuple[str, ...]]]) -> int:
    """Every published entry equals the independent count; below k suppressed; zeros stay. Published count."""
    cases_by_province = Counter()
    for (_, prov), n in expected.get("cases", Counter()).items():
        cases_by_province[prov] += n
    withheld = sorted(p for p, n in cases_by_province.items() if 0 < n < MIN_TOTAL)
    assert sorted(record["withheld_provinces"]) == withheld
    shown = 0
    for t in record["tables"]:
        exp = expected.get(TABLES[t["table_id"]], Counter())
        cols = t["columns"] or [None]
        values = [[exp.get((r, c) if c else (r,), 0) for c in cols] for r in t["rows"]]
        assert sum(map(sum, values)) == sum(exp.values()), f"{t['table_id']}: a counted value has no row or column"
        entries = [
            (values[i][j], t["cells"][i * len(cols) + j], cols[j])
            for i in range(len(t["rows"]))
            for j in range(len(cols))
        ]
        if t["columns"]:
            entries += [(sum(row), pub, None) for row, pub in zip(values, t["row_totals"], strict=True)]
            entries += [
                (sum(row[j] for row in values), pub, c)
                for j, (c, pub) in enumerate(zip(cols, t["column_totals"], strict=True))
            ]
        entries.append((sum(map(sum, values)), t["total"], None))
        for true, pub, col in entries:
            if pub is not None:
                assert pub == true, (t["table_id"], true, pub)
                shown += 1
            if t["controlled"]:
                if 0 < true < K:
                    assert pub is None, f"{t['table_id']}: {true} < k published"
                if true == 0 and not t["withheld"] and col not in withheld:
                    assert pub == 0, f"{t['table_id']}: a true zero was hidden"
            else:
                assert pub == true
    return shown


def check_ack_times(record: dict[str, Any], expected: dict[str, Counter[tuple[str, ...]]]) -> None:
    national: dict[str, list[int]] = {}
    for (kind, _prov, latency), n in expected.get("ack_ms", Counter()).items():
        national.setdefault(kind, []).extend([latency] * n)
    published_all = {a["recipient_kind"]: a for a in record["ack_times"] if a["province"] == "ALL"}
    for kind, times in national.items():
        if len(times) >= K:
            assert published_all[kind]["median_seconds"] == statistics.median(times) / 1000
        else:
            assert kind not in published_all


def _table(record: dict[str, Any], table_id: str) -> dict[str, Any]:
    return next(t for t in record["tables"] if t["table_id"] == table_id)


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return [{**r, "generated_at": 0} for r in a] == [{**r, "generated_at": 0} for r in b]


async def test_published_weekly_figures_match_independent_counts_across_a_kill(kafka: str, namespace: str) -> None:
    codec = Codec()
    data = generate(2000, weeks=5)
    items = _items(data)
    half = len(data.cases) // 2
    first = [(topics.CASES, "Case", c) for c in data.cases[:half]]
    first_ids = {id(c) for c in data.cases[:half]}
    rest = [i for i in items if id(i[2]) not in first_ids]
    replays = [(topics.CASES, "Case", c) for c in data.cases[:300]] + [
        (topics.RECEIPTS, "DeliveryReceipt", r) for r in data.receipts[:100]
    ]
    group = f"{namespace}.referral-bus-stats"
    weeks = sorted(data.expected)
    assert len(weeks) >= 5
    with temp_workdir("stats-") as work:
        env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, "STATS_PUBLISH_INTERVAL_SECONDS": "1", **FAST_GROUP}
        workers = Workers(work, namespace, env)
        try:
            started = time.monotonic()
            workers.start("stats")
            workers.wait_ready(names=["stats"], timeout=120)
            await _produce(kafka, codec, first)
            deadline = time.monotonic() + 120
            while await _committed(kafka, group, topics.name(topics.CASES)) < half // 4:
                assert time.monotonic() < deadline, workers.tail("stats")
                await asyncio.sleep(0.3)
            workers.stop("stats", sig=signal.SIGKILL)  # mid-stream: no flush, no commit, no goodbye
            await _produce(kafka, codec, rest + replays)
            # a message the worker cannot read: dead-lettered with its bytes, the partition moves on
            producer = AIOKafkaProducer(bootstrap_servers=kafka)
            await producer.start()
            await producer.send_and_wait(topics.name(topics.CASES), b"\xc3\x01not-a-case", key=b"case-poison")
            await producer.stop()
            workers.start("stats")
            workers.wait_ready(names=["stats"], timeout=120)

            expected_cases = {w: sum(data.expected[w].get("cases", Counter()).values()) for w in weeks}
            deadline = time.monotonic() + 180
            while True:
                records = await published(KafkaSettings(), codec)
                ours = [r for r in records if r["week"] in data.expected]
                totals = {r["week"]: _table(r, "cases_by_category_province")["total"] for r in ours}
                acked = {r["week"]: _table(r, "acknowledged_by_recipient_kind_province")["total"] for r in ours}
                want_acked = {w: sum(data.expected[w].get("acknowledged", Counter()).values()) for w in weeks}
                if totals == expected_cases and acked == want_acked:
                    break
                assert time.monotonic() < deadline, (totals, expected_cases, acked, want_acked, workers.tail("stats"))
                await asyncio.sleep(1)
            elapsed = time.monotonic() - started
            shown = 0
            # the poison is dead-lettered by stats with its bytes; its dead letter falls in the current
            # week, which is not published before it has ended (STATS_PUBLISH_AFTER_HOURS)
            letters = await read_topic(
                topics.name(topics.DEADLETTER),
                until=lambda rs: any(codec.decode(r.value, "DeadLetter")["stage"] == "stats" for r in rs),
                timeout=30,
            )
            [poison] = [d for d in (codec.decode(r.value, "DeadLetter") for r in letters) if d["stage"] == "stats"]
            assert poison["reason"] == "unknown_schema" and poison["original_value"] == b"\xc3\x01not-a-case"
            assert [r["week"] for r in records] == weeks
            for record in ours:
                shown += check_week(record, data.expected[record["week"]])
                check_ack_times(record, data.expected[record["week"]])
            assert shown > 500, "disclosure control hid nearly everything; the test input is too thin"

            # an uninterrupted computation over the same retained topics gives the same figures
            rebuilt = await recompute(KafkaSettings(), StatsSettings(), codec)
            assert _same(rebuilt, records)

            # the command line exports what was published, suppression marked
            out = work / "export"
            env = {**os.environ, "REFERRAL_BUS_NAMESPACE": namespace, "KAFKA_BOOTSTRAP_SERVERS": kafka}
            cli = [sys.executable, "-m", "referral_cli.main", "stats"]
            done = subprocess.run(
                [*cli, "export", "--from", weeks[0], "--to", weeks[-1], "--out", str(out)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            rows = list(csv.DictReader((out / f"statistics_{weeks[0]}_{weeks[-1]}.csv").open(encoding="utf-8")))
            assert {r["week"] for r in rows} == set(weeks)
            suppressed = [r for r in rows if r["status"] == "suppressed"]
            assert suppressed and all(r["value"] == "" for r in suppressed)
            first = next(r for r in records if r["week"] == weeks[0])
            hn = _table(first, "cases_by_category_province")["column_totals"][0]
            row = next(
                r
                for r in rows
                if r["week"] == weeks[0]
                and r["table_id"] == "cases_by_category_province"
                and r["row"] == "TOTAL"
                and r["column"] == "VN-HN"
            )
            assert row["value"] == str(hn)
            exported = json.loads((out / f"statistics_{weeks[0]}_{weeks[-1]}.json").read_text(encoding="utf-8"))
            assert [w["week"] for w in exported["weeks"]] == weeks
            report = work / "report.html"
            done = subprocess.run(
                [*cli, "report", "--out", str(report)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0 and weeks[-1] in report.read_text(encoding="utf-8"), done.stderr
            # `stats rebuild` recomputes from the retained topics and publishes the same figures again
            done = subprocess.run([*cli, "rebuild"], env=env, capture_output=True, text=True, timeout=180, check=False)
            assert done.returncode == 0 and f"{len(records)} week(s) published" in done.stdout, done.stderr
            assert _same(await published(KafkaSettings(), codec), records)

            # the live dashboard serves the same published figures; the raw tables are never served
            port = workers.ports["stats"]
            page = httpx.get(f"http://127.0.0.1:{port}/dashboard", timeout=10)
            assert page.status_code == 200 and weeks[-1] in page.text and "<svg" in page.text
            assert httpx.get(f"http://127.0.0.1:{port}/table/members", timeout=10).status_code == 404
            dom = chromium("--dump-dom", f"http://127.0.0.1:{port}/dashboard")
            assert dom.returncode == 0 and "Theo tỉnh, thành phố" in dom.stdout and weeks[-1] in dom.stdout
            print(
                f"stats: {len(items) + len(replays)} events, {len(weeks)} weeks, {elapsed:.1f}s incl. kill and restart"
            )
        finally:
            workers.stop_all()
