"""Reading what the workers wrote: changelog topics, where each key went, and whether a group is caught up."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus import topics
from referral_bus.settings import KafkaSettings
from referral_bus.topic_catalog import changelog
from referral_devstack.reading import read_to_end


async def records(kafka: str, name: str) -> list[Any]:
    """Every record of a topic (broker name) up to its end now."""
    return await read_to_end(KafkaSettings(bootstrap_servers=kafka), name, timeout=120)


async def changelog_records(kafka: str, service: str, table: str) -> list[Any]:
    """Every record of a table's changelog in the current namespace."""
    return await records(kafka, topics.name(changelog(service, table)))


def latest(rs: list[Any]) -> dict[str, tuple[int, bytes | None]]:
    """Key (text) → (partition, value) of its last record: what a restarted worker restores (None: tombstone)."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for r in rs:
        out[table_key(r.key)] = (r.partition, r.value)
    return out


def table_key(raw: bytes) -> str:
    """A str table key as Faust writes it to the changelog (JSON text)."""
    key = json.loads(raw)
    assert isinstance(key, str)
    return key


def partitions_by_key(rs: list[Any]) -> dict[bytes, set[int]]:
    """Record key → every partition it was written to."""
    out: dict[bytes, set[int]] = {}
    for r in rs:
        out.setdefault(r.key, set()).add(r.partition)
    return out


async def wait_committed(kafka: str, group: str, names: list[str], timeout: float = 120.0) -> None:
    """Poll until the group's committed offsets reach the end of every partition of `names` (broker names)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        lag: dict[TopicPartition, int] = {}
        while time.monotonic() < deadline:
            await consumer._client.force_metadata_update()
            parts = [TopicPartition(n, p) for n in names for p in (consumer.partitions_for_topic(n) or set())]
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(parts)
            lag = {tp: ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in parts}
            if {tp.topic for tp in parts} == set(names) and all(v <= 0 for v in lag.values()):
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"group {group} not caught up within {timeout}s: {lag}")
    finally:
        await consumer.stop()
        await admin.close()
