"""A report read again after its window passed by the clock (a crash, a rebalance, a backlog) decides as the first time.

Intake topics are stamped by the broker (LogAppendTime); intake judges the correlation window on that stamp
and keeps entries INTAKE_REPLAY_GRACE_SECONDS past the window. Here a linked report is read again, as after
a kill -9 that left neither its offset commit nor its dedup mark on the broker, once the correlation window
has passed by the clock: it joins the same case again, and no case of its own appears (judged on the clock,
one would, and its recipients would get it twice under two referral ids). The producer's own timestamp,
set far in the past, counts for nothing.
"""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import topic_setting
from referral_bus.settings import KafkaSettings
from referral_bus.topic_catalog import changelog
from referral_devstack.workers import running
from services.intake.accept import case_id_for, dedup_key, report_key
from tests.support.agency_reports import cases_until, fresh_content, report_with, reports_of
from tests.support.changelogs import changelog_records, latest, table_key
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka]

WINDOW_S = 20.0
AGENCY_A, AGENCY_B = "ngo-safe-online", "platform-examplevideo"
SPOOFED_MS = 1_000_000_000_000  # 2001: a producer's clock is not the bus's
TIMESTAMP_TYPE = "message.timestamp.type"
codec = Codec()


async def produce(kafka: str, report: dict[str, object], *, timestamp_ms: int | None = None) -> tuple[int, int]:
    """The report to the intake topic with the producer's timestamp; its (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        key = report_key(str(report["agency_id"]), str(report["report_id"])).encode()
        value = codec.encode("CaseReport", report)
        md = await producer.send_and_wait(topics.name(topics.INTAKE), value, key=key, timestamp_ms=timestamp_ms)
        return md.partition, md.offset
    finally:
        await producer.stop()


async def forget(kafka: str, group: str, intake_at: tuple[int, int], mark: str) -> None:
    """As a kill -9 would leave it: the report's offset not committed, its dedup mark not on the changelog."""
    rs = await changelog_records(kafka, "intake", "dedup")
    partition, value = latest(rs)[mark]
    assert value is not None, "the first reading marked the report as seen"
    raw_key = next(r.key for r in rs if r.key is not None and table_key(r.key) == mark)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        name = topics.name(changelog("intake", "dedup"))
        await producer.send_and_wait(name, None, key=raw_key, partition=partition)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topics.name(topics.INTAKE), intake_at[0])
        consumer.assign([tp])
        await consumer.commit({tp: intake_at[1]})
    finally:
        await consumer.stop()


async def test_a_linked_report_read_again_after_its_window_joins_the_same_case(kafka: str, namespace: str) -> None:
    sha, url = fresh_content()
    a, b = report_with(AGENCY_A, sha, url), report_with(AGENCY_B, sha, url)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "INTAKE_CORRELATION_WINDOW_HOURS": f"{WINDOW_S / 3600:.10f}",
        "INTAKE_EXPIRY_INTERVAL_SECONDS": "1",  # sweeps run all along; the grace (default an hour) keeps entries
    }
    with running(namespace, env, "intake", prefix="replay-") as workers:
        stamp = await topic_setting(KafkaSettings(bootstrap_servers=kafka), topics.name(topics.INTAKE), TIMESTAMP_TYPE)
        assert stamp == "LogAppendTime"
        await produce(kafka, a, timestamp_ms=SPOOFED_MS)
        first = await cases_until(kafka, lambda cs: a["report_id"] in reports_of(cs))
        b_at = await produce(kafka, b, timestamp_ms=SPOOFED_MS)
        cases = await cases_until(kafka, lambda cs: b["report_id"] in reports_of(cs))
        stamped = next(c for c in first if c["report"]["report_id"] == a["report_id"])["accepted_at"]
        assert stamped > SPOOFED_MS + 10 * 365 * 86_400_000, "accepted at the broker's stamp, not the producer's"
        workers.stop("intake")  # SIGTERM: it commits; forget() undoes what a kill -9 would not have written
        await forget(kafka, f"{namespace}.referral-bus-intake", b_at, dedup_key(AGENCY_B, b["report_id"]))
        wait_until = stamped / 1000 + WINDOW_S + 2
        assert await wait_for(lambda: time.time() > wait_until, timeout=WINDOW_S + 30)
        workers.start("intake")
        workers.wait_ready(names=["intake"])
        again = await cases_until(kafka, lambda cs: sum(c["report"]["report_id"] == b["report_id"] for c in cs) >= 2)
        assert workers.procs["intake"].poll() is None, workers.tail("intake")
    of_b = [c for c in again if c["report"]["report_id"] == b["report_id"]]
    case_a = case_id_for(AGENCY_A, a["report_id"])
    assert len(of_b) >= 2, "the report was read and decided again"
    assert {(c["case_id"], c["is_update"]) for c in of_b} == {(case_a, True)}, "both readings joined the first case"
    assert case_id_for(AGENCY_B, b["report_id"]) not in {c["case_id"] for c in [*cases, *again]}
