"""Records produced through the drain by node (referral_bus/produce_drain.py) reach the broker once each, in order.

Two topics' partitions written in random order, in bursts and alone: every record is on its partition once, in the
order it was sent, and bursts share requests.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from referral_bus import produce_drain
from referral_bus.kafka import ensure_topics
from referral_bus.settings import KafkaSettings

pytestmark = [pytest.mark.kafka]

PARTITIONS = 4


async def test_every_record_reaches_its_partition_once_in_send_order(kafka: str, namespace: str) -> None:
    assert produce_drain.install()
    outputs, changelog = f"{namespace}.outputs", f"{namespace}.table-changelog"
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka, topic_partitions=PARTITIONS), [outputs, changelog])
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=5, acks="all")
    await producer.start()
    requests = 0
    send_request = producer._sender._send_produce_req

    async def counted(node_id: int, batches: Any) -> Any:
        nonlocal requests
        requests += 1
        return await send_request(node_id, batches)

    producer._sender._send_produce_req = counted
    rng = random.Random(17)
    sent: dict[tuple[str, int], list[bytes]] = {}
    futures = []
    try:
        for n in range(600):
            topic = rng.choice((outputs, changelog))
            partition = rng.randrange(PARTITIONS)
            value = f"{n:05d}".encode()
            futures.append(await producer.send(topic, value, key=b"k", partition=partition))
            sent.setdefault((topic, partition), []).append(value)
            if rng.random() < 0.1:
                await asyncio.sleep(rng.choice((0.0, 0.002, 0.008, 0.04)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    got = await _read(kafka, [TopicPartition(t, p) for t, p in sent], sum(map(len, sent.values())))
    assert got == sent
    assert requests < len(futures) / 5  # bursts share requests


async def _read(kafka: str, tps: list[TopicPartition], total: int) -> dict[tuple[str, int], list[bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: dict[tuple[str, int], list[bytes]] = {}
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = asyncio.get_running_loop().time() + 60
        while sum(map(len, got.values())) < total and asyncio.get_running_loop().time() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                got.setdefault((tp.topic, tp.partition), []).extend(r.value or b"" for r in records)
    finally:
        await consumer.stop()
    return got
