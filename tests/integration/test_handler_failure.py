"""Faust acknowledges an event even when the agent raises; run_guarded must dead-letter it instead."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.reading import read_topic
from tests.support.probes import spawn_probe


def start_probe(kafka: str, namespace: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    """The probe worker (tests/support/apps/failing_app.py), output in tmp_path/probe.log."""
    return spawn_probe("tests.support.apps.failing_app", kafka, namespace, tmp_path, tmp_path / "probe.log")[0]


async def the_one_dead_letter(
    kafka: str, failing: bytes, tmp_path: Path, headers: list[tuple[str, bytes]] | None = None
) -> dict[str, Any]:
    """Send before, `failing`, after under one key (one partition, so "after" really is behind the failing
    event); "before" and "after" come out, and the one dead letter is returned."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for value in (b"before", failing, b"after"):
            await producer.send_and_wait(topics.name("probe.in.v1"), value, key=b"same-key", headers=headers)
    finally:
        await producer.stop()
    out = await read_topic(topics.name("probe.out.v1"), until=lambda rs: len(rs) >= 2, timeout=90)
    assert [r.value for r in out] == [b"before", b"after"], (tmp_path / "probe.log").read_text()[-3000:]
    dl = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 1, timeout=30)
    assert len(dl) == 1
    letter: dict[str, Any] = Codec().decode(dl[0].value, "DeadLetter")
    return letter


async def test_a_failing_handler_dead_letters_the_event_and_the_partition_moves_on(
    kafka: str, namespace: str, tmp_path: Path
) -> None:
    proc = start_probe(kafka, namespace, tmp_path)
    try:
        letter = await the_one_dead_letter(kafka, b"boom", tmp_path, headers=[("agency", b"probe")])
        assert letter["original_value"] == b"boom"
        assert letter["original_key"] == b"same-key"
        assert {"key": "agency", "value": b"probe"} in letter["original_headers"]
        assert letter["reason"] == "processing_error"
        assert letter["stage"] == "probe"
        assert letter["source_topic"] == topics.name("probe.in.v1")
        assert letter["source_offset"] == 1
        assert "ZeroDivisionError" in letter["message"] and "a bug" not in letter["message"]
        assert proc.poll() is None, "the worker must keep running"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


async def test_an_output_the_broker_refuses_dead_letters_the_event_and_nothing_later_is_held(
    kafka: str, namespace: str, tmp_path: Path
) -> None:
    """Sends are awaited after the handler returns; a refused one must still dead-letter its event."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topics.name("probe.small.v1"), 1, 1, topic_configs={"max.message.bytes": "1024"})]
        )
    finally:
        await admin.close()
    proc = start_probe(kafka, namespace, tmp_path)
    try:
        letter = await the_one_dead_letter(kafka, b"big", tmp_path)
        assert letter["reason"] == "output_not_written"
        assert letter["original_value"] == b"big"
        assert letter["source_offset"] == 1
        assert "replay" in letter["message"]
        assert proc.poll() is None, "the worker must keep running"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
