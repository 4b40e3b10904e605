"""The last record of a ledger partition, read from the broker: where its chain continues after a rebalance."""

from __future__ import annotations

import time
from typing import Any

from referral_bus.errors import ReferralBusError
from referral_bus.kafka import client_kwargs
from referral_bus.settings import KafkaSettings


async def read_last(kafka: KafkaSettings, topic: str, partition: int, *, timeout: float = 30.0) -> Any | None:
    """The last record of one partition (None when it is empty or the topic does not exist yet)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        start = (await consumer.beginning_offsets([tp]))[tp]
        if end <= start:
            return None
        consumer.seek(tp, end - 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in (await consumer.getmany(tp, timeout_ms=500)).values():
                for record in batch:
                    if record.offset == end - 1:
                        return record
        raise ReferralBusError(f"timed out reading the last record of {topic}[{partition}]")
    finally:
        await consumer.stop()
