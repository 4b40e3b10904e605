"""The batch loop of run_guarded on the real broker: a poison event inside a batch, a crash inside a batch.

The records wait on the topic before the worker (tests/support/apps/batch_app.py) starts, so its
buffer holds many at once and the sends of up to BATCH_MAX_EVENTS (500) handled events are settled
together. Every event must be handled as Faust's current event (the probe refuses otherwise), so
each table write lands in the changelog partition of the event that made it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import ensure_topics
from referral_bus.settings import KafkaSettings
from referral_bus.topic_catalog import changelog
from referral_devstack.reading import read_topic
from tests.support.changelogs import changelog_records, latest, table_key, wait_committed
from tests.support.polling import wait_for
from tests.support.probes import spawn_probe, stop

pytestmark = [pytest.mark.kafka]

IN, OUT = "probe.batch.in.v1", "probe.batch.out.v1"
TABLE_CHANGELOGS = [changelog("batch-probe", t) for t in ("probe-written", "probe-last", "probe-previous")]


def start_probe(kafka: str, namespace: str, tmp_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """The batch probe worker, its output appended to tmp_path/probe.log."""
    extra = {"BATCH_MAX_EVENTS": "500", "BATCH_WINDOW_MS": "200", **env}
    return spawn_probe("tests.support.apps.batch_app", kafka, namespace, tmp_path, tmp_path / "probe.log", **extra)[0]


async def produce(kafka: str, records: list[tuple[bytes, bytes]]) -> None:
    """All records in one go (batched by the producer), each key's records in order.

    The probe's topics and its table's changelog are created first, as a real worker's are declared.
    """
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka), [topics.name(n) for n in (IN, OUT, *TABLE_CHANGELOGS)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=50)
    await producer.start()
    try:
        sent = [await producer.send(topics.name(IN), value, key=key) for key, value in records]
        for fut in sent:
            await fut
    finally:
        await producer.stop()


async def committed(kafka: str, group: str) -> dict[int, int]:
    """The group's committed offset per partition of the input topic (0 where none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topics.name(IN)}


def group(namespace: str) -> str:
    return f"{namespace}.referral-bus-batch-probe"


async def test_a_poison_event_mid_batch_is_dead_lettered_and_its_neighbours_are_delivered_and_acked_in_order(
    kafka: str, namespace: str, tmp_path: Path
) -> None:
    values = [f"v{i:03d}".encode() for i in range(120)]
    values[60] = b"boom"
    await produce(kafka, [(b"one-case", v) for v in values])  # one key: one partition, one order
    proc = start_probe(kafka, namespace, tmp_path)
    try:
        out = await read_topic(topics.name(OUT), until=lambda rs: len(rs) >= 119, timeout=120)
        assert [r.value for r in out] == [v for v in values if v != b"boom"], (tmp_path / "probe.log").read_text()[
            -3000:
        ]
        dl = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 1, timeout=30)
        assert len(dl) == 1
        letter: dict[str, Any] = Codec().decode(dl[0].value, "DeadLetter")
        assert (letter["original_value"], letter["source_offset"]) == (b"boom", 60)
        await wait_committed(kafka, group(namespace), [topics.name(IN)])  # every event acknowledged
        assert proc.poll() is None, "the worker must keep running"
        # each write in its own event's changelog partition (the one partition of the input here)
        source = await read_topic(topics.name(IN), until=lambda rs: len(rs) >= 120, timeout=30)
        marks = latest(await changelog_records(kafka, "batch-probe", "probe-written"))
        for r in source:
            if r.value != b"boom":
                assert marks[r.value.decode()][0] == r.partition
    finally:
        stop(proc)


async def test_a_crash_mid_batch_replays_only_unacknowledged_events(kafka: str, namespace: str, tmp_path: Path) -> None:
    keys = [f"case-{k}".encode() for k in range(8)]  # spread over the partitions
    first = [(keys[i % 8], f"a{i:03d}".encode()) for i in range(80)]
    await produce(kafka, first)
    marker = tmp_path / "crashed"
    proc = start_probe(kafka, namespace, tmp_path, PROBE_CRASH_MARKER=str(marker))
    try:
        await wait_committed(kafka, group(namespace), [topics.name(IN)])
        second = [(keys[i % 8], f"b{i:03d}".encode()) for i in range(160)]
        second[100] = (second[100][0], b"crash")
        await produce(kafka, second)
        assert await wait_for(lambda: proc.poll() is not None, 60), "the probe did not crash"
        assert marker.exists()
        at_crash = await committed(kafka, group(namespace))
        proc = start_probe(kafka, namespace, tmp_path, PROBE_CRASH_MARKER=str(marker))
        expected = [v for _, v in first + second]
        out = await read_topic(topics.name(OUT), until=lambda rs: {r.value for r in rs} >= set(expected), timeout=120)
        await wait_committed(kafka, group(namespace), [topics.name(IN)])
    finally:
        stop(proc)
    source = await read_topic(topics.name(IN), until=lambda rs: len(rs) >= 240, timeout=30)
    seen: dict[bytes, int] = {}
    for r in out:
        seen[r.value] = seen.get(r.value, 0) + 1
    acknowledged = [r.value for r in source if r.offset < at_crash.get(r.partition, 0)]
    assert len(acknowledged) >= 80, "the first events were committed before the crash"
    assert all(seen[v] == 1 for v in acknowledged), "an acknowledged event was replayed"
    assert set(expected) <= set(seen), "an event was lost"
    replayed = [r.value for r in source if r.offset >= at_crash.get(r.partition, 0)]
    assert replayed, "the crash left unacknowledged events"
    # per case, the outputs (first copies) come in the order of the input
    for key in keys:
        firsts = list(dict.fromkeys(r.value for r in out if r.key == key))
        assert firsts == [v for k, v in first + second if k == key]


async def test_every_table_write_reaches_the_changelog_in_order_and_a_restarted_worker_restores_the_last(
    kafka: str, namespace: str, tmp_path: Path
) -> None:
    """A changelog record lost or reordered between the write and the broker fails this (changelog_sends.py).

    Every event of a case rewrites the case's `probe-last` entry: its changelog must hold one record per event,
    per case in input order. A new worker, restored from it, must see each case's last value before the
    next event of the case (`probe-previous`: the value each event replaced).
    """
    keys = [f"case-{k}".encode() for k in range(8)]
    first = [(keys[i % 8], f"a{i:03d}".encode()) for i in range(200)]
    second = [(keys[i % 8], f"b{i:03d}".encode()) for i in range(80)]
    for batch in (first, second):
        await produce(kafka, batch)
        proc = start_probe(kafka, namespace, tmp_path)
        try:
            await wait_committed(kafka, group(namespace), [topics.name(IN)])
        finally:
            stop(proc)
        if batch is first:
            records = await changelog_records(kafka, "batch-probe", "probe-last")
            for key in keys:
                written = [json.loads(r.value) for r in records if table_key(r.key) == key.decode()]
                assert written == [v.decode() for k, v in first if k == key], "a record lost or out of order"
    replaced = latest(await changelog_records(kafka, "batch-probe", "probe-previous"))
    for key in keys:
        values = [v.decode() for k, v in first + second if k == key]
        seen = [json.loads(replaced[v][1] or b"null") for v in values]
        assert seen == ["", *values[:-1]], "a value missed or restored wrong"
