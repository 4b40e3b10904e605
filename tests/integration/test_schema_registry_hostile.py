"""Hostile writer schemas and payloads through the real local registry (Apicurio) and a real intake worker.

A recursive schema, an `array<null>` field with a huge count and a huge count under our own schema are
each dead-lettered with their original bytes; a good report behind them on the same partition still
becomes a case and the worker keeps running.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from referral_bus import topics
from referral_bus.codec import Codec, confluent_frame
from referral_bus.contracts import contracts
from referral_bus.schema_registry import RegistryConfig, SchemaRegistry
from referral_devstack.reading import read_topic
from referral_devstack.workers import running
from tests.support.avro_bytes import varint
from tests.support.harness import produce_raw
from tests.support.reports import key_of, valid_report

pytestmark = [pytest.mark.kafka]


def register(url: str, subject: str, schema: dict[str, Any]) -> int:
    return int(SchemaRegistryClient({"url": url}).register_schema(subject, Schema(json.dumps(schema), "AVRO")))


def test_hostile_schemas_and_payloads_are_dead_lettered_and_the_worker_goes_on(
    kafka: str, namespace: str, schema_registry: str
) -> None:
    ours = contracts().current["CaseReport"].expanded
    # ours plus an optional linked list: resolvable into our reader (which would skip it), but recursive
    linked = json.loads(json.dumps(ours))
    link = {"type": "record", "name": "Link", "fields": [{"name": "next", "type": ["null", "Link"]}]}
    linked["fields"].append({"name": "thread", "type": ["null", link], "default": None})
    recursive_id = register(schema_registry, f"{namespace}-recursive", linked)
    with_nulls = json.loads(json.dumps(ours))
    with_nulls["fields"].append({"name": "padding", "type": {"type": "array", "items": "null"}, "default": []})
    nulls_id = register(schema_registry, f"{namespace}-nulls", with_nulls)
    ours_id = register(schema_registry, f"{namespace}-ours", ours)

    report = valid_report()
    body = Codec(schema_registry=None).encode("CaseReport", report)[10:]  # the Avro body without its header
    hostile = {
        "recursive": confluent_frame(recursive_id, body + b"\x02" * 200_000 + b"\x00"),  # 200,000 links deep
        "nulls": confluent_frame(nulls_id, body + varint(2**62) + b"\x00"),  # 2**62 nulls in 9 bytes
        "count": confluent_frame(ours_id, body[:40] + varint(2**62) + body[40:]),  # a huge count in a good schema
    }
    good = Codec(schema_registry=SchemaRegistry(RegistryConfig(schema_registry))).encode("CaseReport", report)
    key = key_of(report)  # one key: one partition, so the good report is behind the hostile ones
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, "KAFKA_SCHEMA_REGISTRY_URL": schema_registry}
    with running(namespace, env, "intake", prefix="hostile-") as workers:
        messages: list[tuple[bytes, bytes, int | None]] = [(key, v, None) for v in [*hostile.values(), good]]
        asyncio.run(produce_raw(kafka, topics.name(topics.INTAKE), messages))
        cases = asyncio.run(read_topic(topics.name(topics.CASES), until=lambda rs: len(rs) >= 1, timeout=120))
        dead = asyncio.run(read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 3, timeout=60))
        assert workers.procs["intake"].poll() is None, "the worker must keep running"
    letters = [Codec(schema_registry=None).decode(r.value, "DeadLetter") for r in dead]
    by_value = {d["original_value"]: d for d in letters}
    assert len(letters) == 3 and set(by_value) == set(hostile.values())
    assert by_value[hostile["recursive"]]["reason"] == "writer_schema_refused"
    assert "no recursive types" in by_value[hostile["recursive"]]["message"]
    assert by_value[hostile["nulls"]]["reason"] == "writer_schema_refused"
    assert "zero bytes" in by_value[hostile["nulls"]]["message"]
    assert by_value[hostile["count"]]["reason"] == "undecodable"
    (case,) = cases
    decoded = Codec(schema_registry=SchemaRegistry(RegistryConfig(schema_registry))).decode(case.value, "Case")
    assert decoded["report"]["report_id"] == report["report_id"]
