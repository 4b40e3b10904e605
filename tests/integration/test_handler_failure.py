"""Faust acknowledges an event even when the agent raises; run_guarded must dead-letter it instead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.devstack import free_port, read_topic
from referral_bus.settings import REPO_ROOT


async def test_a_failing_handler_dead_letters_the_event_and_the_partition_moves_on(
    kafka: str, namespace: str, tmp_path
) -> None:
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka, "REFERRAL_BUS_NAMESPACE": namespace,
           "WEB_PORT": str(port), "DATA_DIR": str(tmp_path)}
    log = (tmp_path / "probe.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "faust", "-A", "tests.integration.failing_app", "worker", "-l", "info",
         "--web-port", str(port)],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka)
        await producer.start()
        try:
            # one key → one partition, so "after" really is behind the failing event
            for value in (b"before", b"boom", b"after"):
                await producer.send_and_wait(topics.name("probe.in.v1"), value, key=b"same-key",
                                             headers=[("agency", b"probe")])
        finally:
            await producer.stop()
        out = await read_topic(topics.name("probe.out.v1"), until=lambda rs: len(rs) >= 2, timeout=90)
        assert [r.value for r in out] == [b"before", b"after"], (tmp_path / "probe.log").read_text()[-3000:]
        dl = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 1, timeout=30)
        assert len(dl) == 1
        letter = Codec().decode(dl[0].value, "DeadLetter")
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
