"""Intake through the broker: one real intake worker, producing a mixed stream, reading topics, tallying outputs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.settings import KafkaSettings
from referral_devstack.reading import read_to_end
from referral_devstack.workers import Workers, running
from tests.support.changelogs import wait_committed

MAX_BYTES = 8192  # the worker's KAFKA_MAX_MESSAGE_BYTES, so "oversized" can be produced for real


def now_ms_() -> int:
    return int(time.time() * 1000)


def topic(ns: str, contract: str) -> str:
    return f"{ns}.{contract}"


@contextlib.contextmanager
def intake_worker(ns: str, kafka: str) -> Iterator[Workers]:
    """One real `faust worker` running services.intake.app in namespace `ns`."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, "KAFKA_MAX_MESSAGE_BYTES": str(MAX_BYTES)}
    with running(ns, env, "intake", prefix="intake-") as workers:
        yield workers


@dataclass
class Message:
    """One message an agency produces, with what the test expects of it."""

    key: bytes | None
    value: bytes
    expect: str  # "accepted", "duplicate" or a dead-letter reason
    report_id: str | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


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
    names = [topic(ns, topics.INTAKE), topic(ns, topics.CORRELATION)]
    await wait_committed(kafka, f"{ns}.referral-bus-intake", names, timeout)


async def read_all(name: str, kafka: str) -> list[Any]:
    """Every record of a topic, from the beginning up to its end offsets now."""
    return await read_to_end(KafkaSettings(bootstrap_servers=kafka), name, timeout=120)


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
