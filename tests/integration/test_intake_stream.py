"""A mixed stream through a real intake worker on the real broker: every report accounted for, exactly.

accepted (distinct case ids on the cases topic) + dead-lettered (distinct source positions on the
dead-letter topic) + duplicates (produced - accepted - dead-lettered) = produced, and the duplicates
found that way are exactly the ones the test injected; also across a SIGTERM restart of the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus import topics
from referral_bus.codec import MAGIC, Codec
from referral_bus.devstack import Workers, temp_workdir
from services.intake.accept import case_id_for, dedup_key
from tests.unit.test_intake_validation import valid_report

pytestmark = [pytest.mark.kafka]

MAX_BYTES = 8192  # the worker's KAFKA_MAX_MESSAGE_BYTES, so "oversized" can be produced for real


def now_ms_() -> int:
    return int(time.time() * 1000)


def topic(ns: str, contract: str) -> str:
    return f"{ns}.{contract}"


@contextlib.contextmanager
def intake_worker(ns: str, kafka: str) -> Iterator[Workers]:
    """One real `faust worker` running services.intake.app in namespace `ns`."""
    with temp_workdir("intake-") as work:
        workers = Workers(work, ns, {"KAFKA_BOOTSTRAP_SERVERS": kafka, "KAFKA_MAX_MESSAGE_BYTES": str(MAX_BYTES)})
        try:
            workers.start("intake")
            workers.wait_ready(names=["intake"], timeout=120)
            yield workers
        finally:
            workers.stop_all()


@dataclass
class Message:
    """One message an agency produces, with what the test expects of it."""

    key: bytes | None
    value: bytes
    expect: str  # "accepted", "duplicate" or a dead-letter reason
    report_id: str | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def encode_v1(report: dict[str, Any]) -> bytes:
    from fastavro import schemaless_writer

    from referral_bus.schemas import registry

    v1 = registry().history["CaseReport"][0]
    old = {k: v for k, v in report.items() if k not in ("escalation_reason", "consented_services")}
    buf = io.BytesIO()
    buf.write(MAGIC + v1.fingerprint)
    schemaless_writer(buf, v1.parsed, old)
    return buf.getvalue()


def bad_message(kind: int, rng: random.Random) -> Message:
    """One of seven kinds of bad input, each with its expected reason."""
    codec = Codec()
    report = valid_report()
    good = codec.encode("CaseReport", report)
    key = dedup_key(report["agency_id"], report["report_id"]).encode()
    kinds: list[tuple[bytes, str]] = [
        (rng.randbytes(rng.randint(0, 300)).lstrip(b"\x00").replace(b"\xc3\x01", b"\x01\x01", 1), "undecodable"),
        (good[: rng.randint(0, len(good) - 1)], "undecodable"),
        (MAGIC + rng.randbytes(8) + good[10:], "unknown_schema"),
        (
            codec.encode(
                "DeliveryReceipt",
                {
                    "receipt_id": "r",
                    "referral_id": "r",
                    "case_id": "c",
                    "recipient_id": "x",
                    "status": "DELIVERED",
                    "at": 1,
                    "channel": None,
                    "attempt": 0,
                    "latency_ms": None,
                    "detail": None,
                },
            ),
            "wrong_schema",
        ),
        (codec.encode("CaseReport", valid_report(victim__age_band="ADULT", victim__is_minor=True)), "invalid_field"),
        (codec.encode("CaseReport", valid_report(victim__jurisdiction="VN-99")), "unknown_jurisdiction"),
        (codec.encode("CaseReport", valid_report(narrative="n" * (MAX_BYTES + 100))), "oversized"),
    ]
    value, reason = kinds[kind % len(kinds)]
    if value.startswith(MAGIC) and reason == "undecodable" and len(value) >= 10:
        value = b"\x01" + value[1:]  # a truncated header-only prefix must still read as undecodable
    return Message(key, value, reason)


def mixed_stream(n: int, *, seed: int, bad_every: int = 10, dup_every: int = 10) -> list[Message]:
    """`n` messages: 1 in `bad_every` bad, 1 in `dup_every` a duplicate of an earlier valid one, rest new."""
    rng = random.Random(seed)
    codec = Codec()
    out: list[Message] = []
    valid: list[Message] = []
    for i in range(n):
        if i % bad_every == bad_every - 1:
            out.append(bad_message(i // bad_every, rng))
        elif i % dup_every == dup_every - 2 and valid:
            original = rng.choice(valid)
            if rng.random() < 0.5:  # byte-identical re-send
                out.append(Message(original.key, original.value, "duplicate", original.report_id))
            else:  # re-sent later by the agency: new received_at, and without a key (intake rekeys it)
                again = codec.decode(original.value, "CaseReport")
                again["received_at"] = (again["received_at"] or 0) + 1000
                out.append(Message(None, codec.encode("CaseReport", again), "duplicate", original.report_id))
        else:
            report = valid_report(report_id=f"R-{seed}-{i}-{uuid.uuid4().hex[:6]}")
            value = encode_v1(report) if i % 7 == 0 else codec.encode("CaseReport", report)
            key = None if i % 13 == 0 else dedup_key(report["agency_id"], report["report_id"]).encode()
            m = Message(key, value, "accepted", report["report_id"])
            out.append(m)
            valid.append(m)
    return out


async def produce(ns: str, kafka: str, messages: list[Message]) -> list[tuple[int, int]]:
    """Produce in order, wait for every ack; the (partition, offset) of each message."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, acks="all", enable_idempotence=True, max_request_size=4 * MAX_BYTES
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic(ns, topics.INTAKE), m.value, key=m.key, headers=m.headers or None)
            for m in messages
        ]
        metas = [await f for f in futures]
    finally:
        await producer.stop()
    return [(md.partition, md.offset) for md in metas]


async def wait_drained(ns: str, kafka: str, timeout: float = 90.0) -> None:
    """Poll until intake's committed offsets reach the end of every intake and correlation partition.

    Rekeys go back to the intake topic and accepted reports with a hash or URL through the
    correlation topic (which emits their cases), so both must be drained. Committed offsets are read
    before end offsets: a message is committed only after what it produced was acknowledged, so
    "committed >= end" on both topics means nothing is still on its way to the cases topic.
    """
    group = f"{ns}.referral-bus-intake"
    names = [topic(ns, topics.INTAKE), topic(ns, topics.CORRELATION)]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        lag: dict[tuple[str, int], int] = {}
        while time.monotonic() < deadline:
            parts = [TopicPartition(n, p) for n in names for p in (consumer.partitions_for_topic(n) or set())]
            if {tp.topic for tp in parts} != set(names):
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.3)
                continue
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(parts)
            lag = {
                (tp.topic, tp.partition): ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in parts
            }
            if all(v <= 0 for v in lag.values()):
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"intake did not drain within {timeout}s; lag per partition {lag}")
    finally:
        await consumer.stop()
        await admin.close()


async def read_all(name: str, kafka: str) -> list[Any]:
    """Every record of a topic, from the beginning up to its end offsets now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(name) or set()
        parts = [TopicPartition(name, p) for p in partitions]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[Any] = []
        pending = {tp for tp in parts if ends[tp] > 0}
        while pending:
            for records in (await consumer.getmany(*pending, timeout_ms=500)).values():
                out.extend(records)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return out
    finally:
        await consumer.stop()


@dataclass
class Tally:
    """What came out of intake, counted honestly."""

    case_records: int
    case_ids: set[str]
    report_ids: set[str]
    dead_letters: int
    dead_by_position: dict[tuple[int, int], dict[str, Any]]


async def tally(ns: str, kafka: str) -> Tally:
    codec = Codec()
    cases = [codec.decode(r.value, "Case") for r in await read_all(topic(ns, topics.CASES), kafka)]
    letters = [codec.decode(r.value, "DeadLetter") for r in await read_all(topic(ns, topics.DEADLETTER), kafka)]
    intake_letters = [d for d in letters if d["stage"] == "intake"]
    for d in intake_letters:
        assert d["source_topic"] == topic(ns, topics.INTAKE)
    return Tally(
        case_records=len(cases),
        case_ids={c["case_id"] for c in cases},
        report_ids={c["report"]["report_id"] for c in cases},
        dead_letters=len(intake_letters),
        dead_by_position={(d["source_partition"], d["source_offset"]): d for d in intake_letters},
    )


def metric_counts(port: int) -> dict[str, float]:
    """intake's outcome counters from its /metrics (Prometheus text)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("referral_bus_events_total{") and 'stage="intake"' in line:
            outcome = re.search(r'outcome="([^"]+)"', line)
            if outcome:
                out[outcome.group(1)] = float(line.rsplit(" ", 1)[1])
    return out


def check_equation(messages: list[Message], positions: list[tuple[int, int]], t: Tally) -> dict[str, int]:
    produced = len(messages)
    expected = Counter(m.expect for m in messages)
    bad = [(pos, m) for pos, m in zip(positions, messages, strict=True) if m.expect not in ("accepted", "duplicate")]
    accepted = len(t.case_ids)
    dead = len(t.dead_by_position)
    duplicates = produced - accepted - dead
    figures = {
        "produced": produced,
        "accepted": accepted,
        "dead_lettered": dead,
        "duplicates": duplicates,
        "case_records": t.case_records,
        "dead_letter_records": t.dead_letters,
    }
    print("mixed stream:", figures)
    assert accepted + dead + duplicates == produced
    assert accepted == expected["accepted"]
    assert dead == sum(n for k, n in expected.items() if k not in ("accepted", "duplicate"))
    assert duplicates == expected["duplicate"]
    # the right reports, each accepted once, with deterministic case ids
    want = {m.report_id for m in messages if m.expect == "accepted"}
    assert t.report_ids == want
    assert t.case_ids == {case_id_for("vn-hotline-111", r) for r in want if r}
    # every bad one dead-lettered at its own position, with its reason and original bytes
    for pos, m in bad:
        d = t.dead_by_position.get(pos)
        assert d is not None, f"{m.expect} message at {pos} not dead-lettered"
        assert d["reason"] == m.expect, (pos, d["reason"], d["message"])
        assert d["original_value"] == m.value
    assert set(t.dead_by_position) == {pos for pos, _ in bad}
    return figures


async def test_mixed_stream_of_1000_is_accounted_for_exactly(kafka: str, namespace: str) -> None:
    messages = mixed_stream(1000, seed=3)
    assert Counter(m.expect for m in messages)["duplicate"] == 100
    with intake_worker(namespace, kafka) as workers:
        positions = await produce(namespace, kafka, messages)
        await wait_drained(namespace, kafka)
        t = await tally(namespace, kafka)
        check_equation(messages, positions, t)
        # no restart: each case emitted once, each bad message dead-lettered once
        assert t.case_records == len(t.case_ids)
        assert t.dead_letters == len(t.dead_by_position)
        counts = metric_counts(workers.ports["intake"])
        print("intake metrics:", counts)
        assert counts.get("accepted") == 800
        assert counts.get("duplicate") == 100
        reasons = {k: v for k, v in counts.items() if k not in ("accepted", "duplicate", "rekeyed")}
        assert sum(reasons.values()) == 100
        assert workers.procs["intake"].poll() is None


async def test_mixed_stream_with_a_restart_in_the_middle(kafka: str, namespace: str) -> None:
    first = mixed_stream(500, seed=5)
    # second half: new reports, bad ones, and duplicates of reports accepted before the restart
    second = mixed_stream(500, seed=6)
    rng = random.Random(7)
    accepted_first = [m for m in first if m.expect == "accepted"]
    second = [
        Message(pick.key, pick.value, "duplicate", pick.report_id) if m.expect == "duplicate" else m
        for m in second
        for pick in [rng.choice(accepted_first)]
    ]
    messages = first + second
    with intake_worker(namespace, kafka) as workers:
        positions = await produce(namespace, kafka, first)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len((await tally(namespace, kafka)).case_ids) < 150:
            await asyncio.sleep(0.2)
        workers.stop("intake")  # SIGTERM, then wait for it to leave
        before = await tally(namespace, kafka)
        print(f"restart after {len(before.case_ids)} cases and {len(before.dead_by_position)} dead letters")
        positions += await produce(namespace, kafka, second)
        workers.start("intake")
        workers.wait_ready(names=["intake"], timeout=120)
        await wait_drained(namespace, kafka)
        t = await tally(namespace, kafka)
        check_equation(messages, positions, t)
        print(
            "re-emitted case records:",
            t.case_records - len(t.case_ids),
            "re-written dead letters:",
            t.dead_letters - len(t.dead_by_position),
        )
        assert workers.procs["intake"].poll() is None
