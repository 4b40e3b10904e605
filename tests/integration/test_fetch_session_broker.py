"""Incremental fetch sessions against the real broker: every record arrives once and in order per partition,
through pauses, a seek back and a session the broker no longer recognises (referral_bus/fetch_session.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from referral_bus import fetch_codec, fetch_session
from referral_bus.kafka import ensure_topics
from referral_bus.settings import KafkaSettings
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka]

TOPICS, PARTITIONS, PER_PARTITION = 6, 4, 12


def sessions(consumer: AIOKafkaConsumer) -> list[Any]:
    """The fetch sessions of the consumer's broker connections."""
    conns = consumer._client._conns.values()
    return [s for c in conns if (s := c.__dict__.get("_rb_fetch_session")) is not None]


async def test_records_arrive_once_in_order_through_pause_seek_and_a_lost_session(kafka: str, namespace: str) -> None:
    fetch_codec.install()
    assert fetch_session.install()
    names = [f"{namespace}.fs{i}" for i in range(TOPICS)]
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka, topic_partitions=PARTITIONS), names)
    tps = [TopicPartition(t, p) for t in names for p in range(PARTITIONS)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=0, acks="all")
    consumer = AIOKafkaConsumer(
        *names, bootstrap_servers=kafka, group_id=namespace, auto_offset_reset="earliest", fetch_max_wait_ms=300
    )
    await producer.start()
    await consumer.start()
    got: dict[TopicPartition, list[int]] = {tp: [] for tp in tps}

    async def consume_until(count: int) -> bool:
        async def step() -> bool:
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                got[tp] += [int(r.value or b"-1") for r in records]
            return sum(map(len, got.values())) >= count

        for _ in range(300):  # bounded: 300 × at most 0.2 s
            if await step():
                return True
        return False

    async def produce(round_no: int) -> None:
        for i in range(PER_PARTITION):  # one record at a time across all partitions: many small fetches
            for tp in tps:
                await producer.send(tp.topic, str(round_no * PER_PARTITION + i).encode(), partition=tp.partition)
        await producer.flush()

    try:
        await produce(0)
        assert await consume_until(len(tps) * PER_PARTITION)
        assert await wait_for(lambda: any(s.session_id for s in sessions(consumer)), 10)

        paused = tps[:3]
        consumer.pause(*paused)
        await produce(1)
        assert await consume_until(len(tps) * PER_PARTITION * 2 - len(paused) * PER_PARTITION)
        before = {s.session_id for s in sessions(consumer)}
        for s in sessions(consumer):  # the broker holds the session at an epoch it no longer expects
            s.epoch += 5
        consumer.resume(*paused)
        assert await consume_until(len(tps) * PER_PARTITION * 2)
        assert await wait_for(lambda: all(s.session_id not in before | {0} for s in sessions(consumer)), 10)

        replayed = tps[-1]
        consumer.seek(replayed, 0)
        await produce(2)
        assert await consume_until(len(tps) * PER_PARTITION * 3 + 2 * PER_PARTITION)
        assert all(s.epoch > 1 for s in sessions(consumer))  # the renewed session went on incrementally
    finally:
        await consumer.stop()
        await producer.stop()

    everything = list(range(3 * PER_PARTITION))
    for tp in tps:
        expected = everything[: 2 * PER_PARTITION] + everything if tp == replayed else everything
        assert got[tp] == expected, tp
