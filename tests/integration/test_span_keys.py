"""No raw Kafka key in any span attribute: send spans through the real broker (none on receipt), process spans."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from referral_bus.settings import REPO_ROOT
from referral_bus.span_keys import ProcessSpanSensor
from referral_bus.tracing import KEY_ATTRIBUTE
from referral_devstack.processes import untraced_environment
from tests.support.tracing import console_spans

KEY = "agency-chosen/REPORT-9931"

# A fresh interpreter (tracing set-up is process-global) with the console exporter: produce one keyed
# record and consume it back through the instrumented aiokafka clients, then print the spans.
ROUND_TRIP = """
import asyncio, os
from referral_bus import tracing
tracing.configure("probe")
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

async def main():
    topic, servers = os.environ["PROBE_TOPIC"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    await producer.send_and_wait(topic, b"value", key=os.environ["PROBE_KEY"].encode())
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest")
    await consumer.start()
    got = {}
    for _ in range(60):
        got = await consumer.getmany(timeout_ms=1000)
        if got:
            break
    await consumer.stop()
    assert got, "nothing consumed"

asyncio.run(main())
tracing.shutdown()
"""


@pytest.mark.kafka
def test_send_spans_carry_no_record_key_and_receiving_opens_none(kafka: str, namespace: str) -> None:
    env = {
        **untraced_environment(),
        "OTEL_TRACES_EXPORTER": "console",
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "PROBE_TOPIC": f"{namespace}.span-keys",
        "PROBE_KEY": KEY,
    }
    done = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    spans = console_spans(out)
    # the send span only: receiving opens none (Faust's process span continues the trace in a worker)
    assert [s["kind"] for s in spans] == ["SpanKind.PRODUCER"], out[-2000:]
    assert spans[0]["attributes"]["messaging.destination.name"] == env["PROBE_TOPIC"]
    assert KEY_ATTRIBUTE not in out and "REPORT-9931" not in out


def test_faust_process_span_attributes_leave_out_the_key() -> None:
    """The sensor the workers register keeps Faust's messaging attributes and drops the key."""
    event = SimpleNamespace(message=SimpleNamespace(key=KEY.encode(), headers=[]))
    stream = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(id="referral-bus-intake")))
    tp = SimpleNamespace(topic="referrals.intake.v1", partition=3)
    attributes = ProcessSpanSensor()._span_attributes(stream, event, tp, 42)  # stand-ins for Faust objects
    assert KEY_ATTRIBUTE not in attributes and KEY not in json.dumps(attributes)
    assert attributes["messaging.destination.name"] == "referrals.intake.v1"
    assert attributes["messaging.kafka.message.offset"] == 42
