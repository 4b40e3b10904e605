"""A partition's next record is not held behind a fetch sent around its unconsumed ones (referral_bus/fetch_actions.py).

aiokafka fetches a node's other partitions when a partition's records wait for the application longer than the
prefetch backoff; with only one fetch in flight per node, that fetch (idle partitions: held its full max wait at the
broker) used to delay the busy partition's next record by fetch.max.wait.ms.
"""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from referral_bus import fetch_actions
from referral_bus.kafka import ensure_topics
from referral_bus.settings import KafkaSettings
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka]

MAX_WAIT_MS = 5000  # long, so that a held fetch cannot pass for a slow machine


async def test_a_busy_partitions_next_record_is_not_held_behind_an_idle_fetch(kafka: str, namespace: str) -> None:
    assert fetch_actions.install()
    topic = f"{namespace}.held"
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka, topic_partitions=2), [topic])
    busy, idle = TopicPartition(topic, 0), TopicPartition(topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=0, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, auto_offset_reset="earliest", fetch_max_wait_ms=MAX_WAIT_MS)
    await producer.start()
    await consumer.start()
    try:
        consumer.assign([busy, idle])
        await producer.send_and_wait(topic, b"first", partition=busy.partition)
        fetcher = consumer._fetcher

        def around_busy() -> bool:
            """Fetched, not consumed past the prefetch backoff, and so a fetch of the idle partition in flight."""
            pending = fetcher._records.get(busy)
            return pending is not None and pending.calculate_backoff() == 0 and bool(fetcher._in_flight)

        assert await wait_for(around_busy, 30)
        assert [r.value for r in (await consumer.getmany(busy, timeout_ms=1000)).get(busy, [])] == [b"first"]
        started = time.monotonic()
        await producer.send_and_wait(topic, b"second", partition=busy.partition)
        records = await consumer.getmany(busy, timeout_ms=2 * MAX_WAIT_MS)
        waited = time.monotonic() - started
    finally:
        await consumer.stop()
        await producer.stop()
    assert [r.value for r in records.get(busy, [])] == [b"second"]
    assert waited < MAX_WAIT_MS / 2000, f"the busy partition's record waited {waited:.2f} s behind the idle fetch"
