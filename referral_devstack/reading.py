"""Topics read from outside a worker: to their end (the CLI, the tests) or until a condition holds (the demo, tests).

Tooling only: no worker reads a topic this way (a worker reads through Faust; the ledger's one direct read
of its last entry is services/ledger/tail.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from referral_bus.errors import ReferralBusError
from referral_bus.kafka import client_kwargs
from referral_bus.settings import KafkaSettings


async def read_topic(
    topic: str | tuple[str, ...],
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 60.0,
    bootstrap: str | None = None,
) -> list[Any]:
    """Read `topic` (or several, e.g. every priority lane's) from the beginning until `until(records)` holds."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    kwargs = client_kwargs(KafkaSettings())
    if bootstrap:
        kwargs["bootstrap_servers"] = bootstrap
    consumer = AIOKafkaConsumer(**kwargs, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        names = (topic,) if isinstance(topic, str) else topic
        tps: list[TopicPartition] = []
        while time.monotonic() < deadline:
            tps = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())]
            if {tp.topic for tp in tps} == set(names) or (tps and time.monotonic() > deadline - timeout + 5):
                break  # all of them, or after 5 s those that exist
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
        if not tps:
            return records
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        while time.monotonic() < deadline and not until(records):
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(msgs)
        return records
    finally:
        await consumer.stop()


async def read_to_end(kafka: KafkaSettings, topic: str, *, timeout: float = 30.0, partial: bool = False) -> list[Any]:
    """Every record of `topic` up to its end offsets as they were when reading started, in fetch order.

    On timeout: what was read so far when `partial`, else a ReferralBusError naming the topic.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # a topic created since the client started
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        waiting = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + timeout
        while waiting:
            if time.monotonic() > deadline:
                if partial:
                    return records
                raise ReferralBusError(f"timed out reading {topic} after {timeout}s; is the broker reachable?")
            for batch in (await consumer.getmany(*waiting, timeout_ms=500)).values():
                records.extend(r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)])
            waiting = {tp for tp in waiting if await consumer.position(tp) < ends[tp]}
        return records
    finally:
        await consumer.stop()
