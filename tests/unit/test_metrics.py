"""Metrics: the instruments' Prometheus names, and /metrics, /healthz, /readyz of a real running worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.devstack import Workers, temp_workdir
from referral_bus.kafka import client_kwargs
from referral_bus.produce import produce
from referral_bus.settings import REPO_ROOT, KafkaSettings

EXAMPLES = REPO_ROOT / "examples" / "reports.jsonl"


def test_instruments_expose_their_prometheus_names() -> None:
    code = """
from referral_bus import metrics
metrics.configure("probe")
metrics.event_in("intake"); metrics.event_out("intake", "referrals.cases.v1")
metrics.dead_lettered("intake", "undecodable"); metrics.stage_latency("intake", "ok", 3.0)
metrics.delivery("webhook", "delivered", latency_ms=40); metrics.sla_breach("vn-police-hn", "P1")
metrics.register_lag_source(lambda: [("referrals.intake.v1", 0, 5)])
print(metrics.exposition()[0].decode())
"""
    env = {k: v for k, v in os.environ.items() if k != "REFERRAL_BUS_NAMESPACE"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    ).stdout
    for name in (
        'referral_bus_events_in_total{otel_scope_name="referral_bus",otel_scope_schema_url="",'
        'otel_scope_version="",stage="intake"} 1.0',
        "referral_bus_events_out_total{",
        'reason="undecodable"',
        "referral_bus_stage_latency_milliseconds_count{",
        'referral_bus_delivery_attempts_total{channel="webhook"',
        "referral_bus_delivery_latency_milliseconds_sum{",
        'recipient_id="vn-police-hn"} 1.0',
        'partition="0",topic="referrals.intake.v1"} 5.0',
    ):
        assert name in out, name


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

            producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()))
            await producer.start()
            try:
                await (await producer.send(topics.name(topics.INTAKE), b"not avro", key=b"x/y"))
            finally:
                await producer.stop()
            await produce(EXAMPLES)

            text = ""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                text = httpx.get(f"{base}/metrics").text
                if _metric(text, "referral_bus_events_in_total", stage="intake") >= 10 and _metric(
                    text, "referral_bus_dead_letters_total", stage="intake", reason="undecodable"
                ):
                    break
                await asyncio.sleep(0.3)
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
