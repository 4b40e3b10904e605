"""A real worker process serves /healthz, /readyz and /metrics."""

from __future__ import annotations

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.kafka import client_kwargs
from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_devstack.produce import produce
from referral_devstack.workers import Workers, temp_workdir
from tests.support.pages import assert_only_our_pages
from tests.support.polling import fetch_until

EXAMPLES = REPO_ROOT / "examples" / "reports.jsonl"


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.kafka
async def test_a_running_worker_serves_health_readiness_and_metrics(kafka: str, namespace: str) -> None:
    with temp_workdir("metrics-") as work:
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka})
        try:
            workers.start("intake")
            workers.wait_ready(names=["intake"])
            base = f"http://127.0.0.1:{workers.ports['intake']}"
            assert httpx.get(f"{base}/healthz").json()["status"] == "alive"
            assert httpx.get(f"{base}/readyz").json() == {"status": "ready", "service": "intake"}
            await assert_only_our_pages(workers.ports["intake"], "HL111-2026-0001")

            producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()))
            await producer.start()
            try:
                await (await producer.send(topics.name(topics.INTAKE), b"not avro", key=b"x/y"))
            finally:
                await producer.stop()
            await produce(EXAMPLES)

            def counted(text: str) -> bool:
                """Every count asserted below is reached (an output is counted once the broker acknowledged it)."""
                return (
                    _metric(text, "referral_bus_events_in_total", stage="intake") >= 10
                    and _metric(text, "referral_bus_dead_letters_total", stage="intake", reason="undecodable") > 0
                    and _metric(text, "referral_bus_events_out_total", stage="intake", topic="referrals.cases.v1") >= 5
                    and _metric(text, "referral_bus_events_out_total", stage="intake", topic="referrals.deadletter.v1")
                    >= 2
                )

            async def scrape() -> str:
                return httpx.get(f"{base}/metrics").text

            text = await fetch_until(scrape, counted, 60, interval=0.3)
            assert _metric(text, "referral_bus_events_in_total", stage="intake") >= 10, workers.tail("intake")
            assert _metric(text, "referral_bus_dead_letters_total", stage="intake", reason="undecodable") == 1
            assert _metric(text, "referral_bus_events_out_total", stage="intake", topic="referrals.cases.v1") >= 5
            assert _metric(text, "referral_bus_events_out_total", stage="intake", topic="referrals.deadletter.v1") >= 2
            assert _metric(text, "referral_bus_stage_latency_milliseconds_count", stage="intake") >= 10
            assert 'outcome="dead_lettered"' in text
            assert "referral_bus_consumer_lag{" in text
            assert namespace not in text  # topic labels drop the run's namespace
        finally:
            workers.stop_all()
