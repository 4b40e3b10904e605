"""The stall watchdog on a real worker and the real broker: a worker stuck with records waiting exits
with EXIT_STALLED, and nothing past the stuck record is committed (its restart replays it)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from referral_bus import topics
from referral_bus.watchdog import EXIT_STALLED
from referral_devstack.reading import read_topic
from tests.support.probes import spawn_probe

pytestmark = [pytest.mark.faults, pytest.mark.kafka]


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    finally:
        await admin.close()


async def test_a_stuck_worker_exits_for_a_restart_without_committing_past_the_stuck_record(
    kafka: str, namespace: str, tmp_path: Path
) -> None:
    from aiokafka import AIOKafkaProducer

    log_path = tmp_path / "stallprobe.log"
    proc, _ = spawn_probe(
        "tests.support.apps.stall_app", kafka, namespace, tmp_path, log_path, STALL_TIMEOUT_SECONDS="10"
    )
    source = topics.name("stallprobe.in.v1")
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka)
        await producer.start()
        try:
            sent = {}  # one key: one partition, "after" behind the stuck record
            for value in (b"ok", b"hang", b"after"):
                sent[value] = await producer.send_and_wait(source, value, key=b"same-key")
        finally:
            await producer.stop()
        out = await read_topic(topics.name("stallprobe.out.v1"), until=lambda rs: len(rs) >= 1, timeout=120)
        assert [r.value for r in out] == [b"ok"], log_path.read_text()[-3000:]
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(1)
        text = log_path.read_text(errors="replace")
        assert proc.returncode == EXIT_STALLED, text[-3000:]
        assert "worker stalled" in text
        committed = await _committed(kafka, f"{namespace}.referral-bus-stallprobe", source)
        hang = sent[b"hang"]
        assert committed.get(hang.partition, 0) <= hang.offset, committed  # "hang" and "after" are replayed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
