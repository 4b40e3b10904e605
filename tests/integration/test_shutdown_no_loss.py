"""A SIGTERM in the middle of a stream, then a restart: every event's effect reaches the output topic.

The probe worker (tests/support/apps/shutdown_app.py) is slow per event and keeps a table, so the
SIGTERM lands with events in flight and queued, and the restarted worker recovers its table before
processing: the path where Faust used to commit past the first record of a partition without
processing it (referral_bus/faust_patches.py); the probe's slow seek and one-record buffer make that
window certain instead of load-dependent. At-least-once: duplicates are allowed, losses are not.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_devstack.reading import read_topic
from tests.support.probes import spawn_probe, stop

pytestmark = [pytest.mark.kafka]

N = 80
KEYS = 16  # spread over every partition, several events each


def start_worker(kafka: str, namespace: str, workdir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The shutdown probe on a free web port (another one if that is taken before it binds), and its port."""
    return spawn_probe(
        "tests.support.apps.shutdown_app",
        kafka,
        namespace,
        workdir,
        log_path,
        PROBE_HANDLER_DELAY_S="0.2",
        PROBE_SEEK_DELAY_S="3.0",
        STREAM_BUFFER_MAXSIZE="1",  # the fetcher delivers one record at a time, paced by the handler
    )


def wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"probe worker not ready in {timeout}s: " + log_path.read_text(errors="replace")[-3000:])


async def test_a_sigterm_mid_stream_and_a_restart_lose_no_event(kafka: str, namespace: str, tmp_path: Path) -> None:
    log_path = tmp_path / "probe.log"
    values = [f"m-{i}".encode() for i in range(N)]
    out_topic = topics.name("probe.shutdown.out.v1")
    proc, port = start_worker(kafka, namespace, tmp_path, log_path)
    try:
        wait_ready(proc, port, log_path)
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
        await producer.start()
        try:
            for i, value in enumerate(values):
                await producer.send(topics.name("probe.shutdown.in.v1"), value, key=f"k-{i % KEYS}".encode())
            await producer.flush()
        finally:
            await producer.stop()
        # SIGTERM once some (not all) events went through: the rest are queued or in flight
        first = await read_topic(out_topic, until=lambda rs: len(rs) >= N // 4, timeout=90)
        await asyncio.to_thread(stop, proc)
        assert proc.returncode == 0, log_path.read_text(errors="replace")[-3000:]
        done_before = len(first)
        assert done_before < N, "the worker finished before the SIGTERM: nothing was tested"

        proc, port = start_worker(kafka, namespace, tmp_path, log_path)
        wait_ready(proc, port, log_path)

        def all_there(records: list[Any]) -> bool:
            return {r.value for r in records} >= set(values)

        out = await read_topic(out_topic, until=all_there, timeout=120)
        missing = set(values) - {r.value for r in out}
        print(f"shutdown probe: {N} produced, {done_before} out before SIGTERM, {len(out)} out records in all")
        assert not missing, f"lost across the restart: {sorted(missing)}"
        assert proc.poll() is None
    finally:
        stop(proc)
