"""A started worker runs on the loop EVENT_LOOP names: its main loop and its Kafka consumer thread's loop."""

from __future__ import annotations

import httpx
import pytest

from referral_devstack.workers import Workers, temp_workdir


@pytest.mark.kafka
@pytest.mark.parametrize("name", ["uvloop", "asyncio"])
def test_a_worker_and_its_consumer_thread_run_on_the_loop_event_loop_names(
    name: str, kafka: str, namespace: str
) -> None:
    with temp_workdir("loop-") as work:
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka, "EVENT_LOOP": name})
        try:
            workers.start("intake")
            workers.wait_ready(names=["intake"])  # ready: partitions assigned, so the consumer thread runs
            health = httpx.get(f"http://127.0.0.1:{workers.ports['intake']}/healthz", timeout=10).json()
            assert health["event_loops"] == {"main": name, "consumer": name}, workers.tail("intake")
        finally:
            workers.stop_all()
