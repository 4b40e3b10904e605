"""Routing's `routed` table is bounded, through a real routing worker: it held every case ever routed (the
routing worker's RSS grew through the soak while the other workers' stayed flat); now a case's holders
are tombstoned ROUTING_LINKED_WINDOW_HOURS after its last report and stay gone after a restart, while
live ones are kept. Windows of 20 s, swept every second."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.workers import running
from tests.support.changelogs import changelog_records, latest, records
from tests.support.polling import wait_for
from tests.support.soak import table_sizes

pytestmark = [pytest.mark.kafka]

WINDOW_S = 20
PARTITIONS = 4


def _case(case_id: str) -> dict[str, Any]:
    report = {
        "report_id": f"R-{case_id}",
        "agency_id": "sample-agency",
        "source_system": "routing-expiry-test",
        "reported_at": int(time.time() * 1000),
        "category": "HARASSMENT",
        "severity": "MEDIUM",
        "victim": {"age_band": "AGE_13_15", "is_minor": True, "jurisdiction": "VN-HN"},
        "offender": {"country": None},
        "consent": "NOT_REQUIRED_CHILD",
    }
    return {"case_id": case_id, "accepted_at": int(time.time() * 1000), "report": report}


def covering() -> list[str]:
    """Case ids that reach every partition of the cases topic (the sweep of a partition runs with its events)."""
    out: list[str] = []
    seen: set[int] = set()
    parts = list(range(PARTITIONS))
    while len(seen) < PARTITIONS or len(out) < 2 * PARTITIONS:
        cid = f"case-{uuid.uuid4().hex}"
        seen.add(int(DefaultPartitioner()(cid.encode(), parts, parts)))
        out.append(cid)
    return out


async def _produce(kafka: str, case_ids: list[str]) -> None:
    codec = Codec()
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for cid in case_ids:
            await producer.send_and_wait(topics.name(topics.CASES), codec.encode("Case", _case(cid)), key=cid.encode())
    finally:
        await producer.stop()


async def test_routed_entries_expire_and_stay_gone_after_a_restart(kafka: str, namespace: str) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "ROUTING_LINKED_WINDOW_HOURS": f"{WINDOW_S / 3_600:.10f}",
        "ROUTING_EXPIRY_INTERVAL_SECONDS": "1",
    }
    old, new = covering(), covering()
    with running(namespace, env, "routing", prefix="routing-expiry-") as workers:
        port = workers.ports["routing"]
        await _produce(kafka, old)
        assert await wait_for(lambda: table_sizes(port).get("routed") == len(old), 60), table_sizes(port)
        written = time.time()
        assert await wait_for(lambda: time.time() > written + WINDOW_S + 1, WINDOW_S + 10)  # the window passes
        await _produce(kafka, new)
        assert await wait_for(lambda: table_sizes(port).get("routed") == len(new), 60), table_sizes(port)

        workers.stop("routing")  # a restart restores only the live entries: the expired ones have tombstones
        workers.start("routing")
        workers.wait_ready(names=["routing"])
        assert await wait_for(lambda: table_sizes(port).get("routed") == len(new), 60), table_sizes(port)

        at = {r.key.decode(): r.partition for r in await records(kafka, topics.name(topics.CASES))}
        last = latest(await changelog_records(kafka, "routing", "routed"))
        for cid in old + new:
            partition, value = last[cid]
            assert partition == at[cid]  # the tombstone in the entry's own changelog partition
            assert (value is None) == (cid in old)
