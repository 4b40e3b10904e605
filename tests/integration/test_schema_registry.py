"""Confluent framing against a real Confluent-compatible schema registry (the local Apicurio Registry).

Interoperability both ways with confluent-kafka's own AvroSerializer/AvroDeserializer, schema
resolution of an older or foreign writer schema registered in the registry, the reason codes of an
unknown or unreadable id, and, through the real broker, an intake worker with and without a registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import schemaless_writer

from referral_bus import topics
from referral_bus.codec import CONFLUENT_MAGIC, MAGIC, Codec, confluent_frame, confluent_id
from referral_bus.contracts import contracts
from referral_bus.errors import UnknownSchemaError
from referral_bus.schema_registry import RegistryConfig, SchemaRegistry
from referral_devstack.reading import read_topic
from referral_devstack.workers import Workers, free_port, temp_workdir
from services.intake.accept import report_key
from tests.support.reports import valid_report


def client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url})


def our_codec(url: str) -> Codec:
    return Codec(schema_registry=SchemaRegistry(RegistryConfig(url)))


def expected_v2(report: dict[str, Any]) -> dict[str, Any]:
    """What the current reader yields for `report` (encode and decode once, single-object)."""
    plain = Codec(schema_registry=None)
    return plain.decode(plain.encode("CaseReport", report), "CaseReport")


def body(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    from fastavro import parse_schema

    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(schema, _write_hint=False), record)
    return buf.getvalue()


def v1_report(report: dict[str, Any]) -> dict[str, Any]:
    """`report` as a v1 agency writes it (v1 lacks escalation_reason, consented_services and victim.sex)."""
    old = {k: v for k, v in report.items() if k not in ("escalation_reason", "consented_services")}
    old["victim"] = {k: v for k, v in report["victim"].items() if k != "sex"}
    return old


# --- interoperability with confluent-kafka's serializers -------------------------------------------------


def test_confluents_serializer_decodes_with_our_codec(schema_registry: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.{topics.INTAKE}"  # TopicNameStrategy: subject "<topic>-value"
    schema_str = json.dumps(contracts().current["CaseReport"].expanded)
    serializer = AvroSerializer(client(schema_registry), schema_str)
    report = valid_report()
    data = serializer(report, SerializationContext(topic, MessageField.VALUE))
    assert data is not None and data[:1] == CONFLUENT_MAGIC
    assert our_codec(schema_registry).decode(data, "CaseReport") == expected_v2(report)


def test_our_encoding_decodes_with_confluents_deserializer(schema_registry: str) -> None:
    codec = our_codec(schema_registry)
    report = valid_report()
    data = codec.encode("CaseReport", report)
    assert data[:1] == CONFLUENT_MAGIC and confluent_id(data) == codec.registry_id("CaseReport")
    deserializer = AvroDeserializer(client(schema_registry))
    decoded = deserializer(data, SerializationContext(topics.INTAKE, MessageField.VALUE))
    assert decoded == expected_v2(report)
    # registered under the record-name subject, and idempotent across codecs (same id)
    assert "org.referralbus.v1.CaseReport" in client(schema_registry).get_subjects()
    assert our_codec(schema_registry).registry_id("CaseReport") == codec.registry_id("CaseReport")


# --- schema resolution of registry writer schemas ---------------------------------------------------------


def test_a_v1_report_in_confluent_framing_is_read_as_v2(schema_registry: str) -> None:
    v1 = contracts().history["CaseReport"][0]
    subject = f"t{uuid.uuid4().hex[:10]}.{topics.INTAKE}-value"
    schema_id = client(schema_registry).register_schema(subject, Schema(json.dumps(v1.expanded), "AVRO"))
    old = v1_report(valid_report())
    data = confluent_frame(schema_id, body(v1.expanded, old))
    decoded = our_codec(schema_registry).decode(data, "CaseReport")
    assert decoded["escalation_reason"] is None and decoded["consented_services"] == []
    assert decoded == expected_v2(old)


def test_a_foreign_but_compatible_writer_schema_is_resolved(schema_registry: str) -> None:
    """An agency's own variant (an extra optional field, no docs) reads into our current schema."""
    theirs = json.loads(json.dumps(contracts().current["CaseReport"].expanded))
    theirs["fields"].append({"name": "agency_internal_ref", "type": ["null", "string"], "default": None})
    subject = f"t{uuid.uuid4().hex[:10]}-foreign"
    schema_id = client(schema_registry).register_schema(subject, Schema(json.dumps(theirs), "AVRO"))
    ours = valid_report()
    report = {**ours, "agency_internal_ref": "X-1"}
    decoded = our_codec(schema_registry).decode(confluent_frame(schema_id, body(theirs, report)), "CaseReport")
    assert decoded == expected_v2(ours)


def test_an_unreadable_writer_schema_is_unknown_schema_naming_the_rule(schema_registry: str) -> None:
    theirs = json.loads(json.dumps(contracts().current["CaseReport"].expanded))
    theirs["fields"] = [f for f in theirs["fields"] if f["name"] != "report_id"]
    subject = f"t{uuid.uuid4().hex[:10]}-incompatible"
    schema_id = client(schema_registry).register_schema(subject, Schema(json.dumps(theirs), "AVRO"))
    report = {k: v for k, v in valid_report().items() if k != "report_id"}
    with pytest.raises(UnknownSchemaError) as exc:
        our_codec(schema_registry).decode(confluent_frame(schema_id, body(theirs, report)), "CaseReport")
    assert f"schema id {schema_id}" in str(exc.value) and "report_id" in str(exc.value)


def test_an_unknown_schema_id_is_unknown_schema_naming_the_id(schema_registry: str) -> None:
    with pytest.raises(UnknownSchemaError, match="schema id 2000000001 is not in the schema registry"):
        our_codec(schema_registry).decode(confluent_frame(2_000_000_001, b"\x00"), "CaseReport")


async def test_prefetch_warms_the_caches_off_the_loop(schema_registry: str) -> None:
    codec = our_codec(schema_registry)
    data = our_codec(schema_registry).encode("CaseReport", valid_report())
    await codec.prefetch(data, encodes=("Case",))
    assert codec.schema_registry is not None
    assert codec.schema_registry.cached_id("org.referralbus.v1.Case") is not None
    assert codec.schema_registry.cached_writer(confluent_id(data) or 0) is not None


# --- through the real broker: an intake worker with and without a registry --------------------------------


@contextlib.contextmanager
def intake_workers(kafka: str, registry_url: str) -> Iterator[tuple[str, str]]:
    """Two real intake workers started together: one with the registry, one without; their namespaces."""
    with_ns, without_ns = "tsr" + uuid.uuid4().hex[:8], "tnr" + uuid.uuid4().hex[:8]
    with temp_workdir("registry-") as work:
        (work / "a").mkdir()
        (work / "b").mkdir()
        base = {"KAFKA_BOOTSTRAP_SERVERS": kafka}
        configured = Workers(work / "a", with_ns, {**base, "KAFKA_SCHEMA_REGISTRY_URL": registry_url})
        plain = Workers(work / "b", without_ns, {**base, "KAFKA_SCHEMA_REGISTRY_URL": ""})
        try:
            configured.start("intake")
            plain.start("intake")
            configured.wait_ready(names=["intake"], timeout=120)
            plain.wait_ready(names=["intake"], timeout=120)
            yield with_ns, without_ns
        finally:
            configured.stop_all()
            plain.stop_all()


async def produce(kafka: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


@pytest.mark.kafka
async def test_intake_accepts_confluent_framed_reports_and_dead_letters_the_rest(
    kafka: str, schema_registry: str
) -> None:
    registry_codec = our_codec(schema_registry)
    plain_codec = Codec(schema_registry=None)
    report = valid_report()
    key = report_key(report["agency_id"], report["report_id"]).encode()
    schema_str = json.dumps(contracts().current["CaseReport"].expanded)
    with intake_workers(kafka, schema_registry) as (with_ns, without_ns):
        intake_with, intake_without = f"{with_ns}.{topics.INTAKE}", f"{without_ns}.{topics.INTAKE}"
        framed = AvroSerializer(client(schema_registry), schema_str)(
            report, SerializationContext(intake_with, MessageField.VALUE)
        )
        assert framed is not None
        unknown = confluent_frame(2_000_000_002, framed[5:])
        await asyncio.gather(
            produce(kafka, intake_with, [(key, framed), (b"agency-x/unknown-id", unknown)]),
            produce(kafka, intake_without, [(b"agency-x/no-registry", framed)]),
        )

        cases = await read_topic(f"{with_ns}.{topics.CASES}", until=lambda rs: len(rs) >= 1, timeout=90)
        assert len(cases) == 1
        assert cases[0].value[:1] == CONFLUENT_MAGIC  # the worker writes Confluent framing too
        case = registry_codec.decode(cases[0].value, "Case")
        assert case["report"]["report_id"] == report["report_id"]

        letters_with = await read_topic(f"{with_ns}.{topics.DEADLETTER}", until=lambda rs: len(rs) >= 1, timeout=60)
        letters_without = await read_topic(
            f"{without_ns}.{topics.DEADLETTER}", until=lambda rs: len(rs) >= 1, timeout=60
        )
    assert all(r.value[:2] == MAGIC for r in letters_with + letters_without)  # dead letters: single-object
    (unknown_letter,) = [plain_codec.decode(r.value, "DeadLetter") for r in letters_with]
    assert unknown_letter["reason"] == "unknown_schema"
    assert "schema id 2000000002" in unknown_letter["message"]
    assert unknown_letter["original_value"] == unknown
    (plain_letter,) = [plain_codec.decode(r.value, "DeadLetter") for r in letters_without]
    assert plain_letter["reason"] == "unknown_schema"
    assert "no schema registry is configured" in plain_letter["message"]
    assert plain_letter["original_value"] == framed and plain_letter["original_key"] == b"agency-x/no-registry"
    assert plain_letter["source_topic"] == intake_without


@pytest.mark.kafka
async def test_a_registry_outage_dead_letters_for_replay_and_loses_nothing(kafka: str, schema_registry: str) -> None:
    """Registry down: both a Confluent-framed report (writer unknown) and a single-object one (its Case
    cannot be registered) are dead-lettered whole as `registry_unavailable`, ready for replay."""

    ns = "tdr" + uuid.uuid4().hex[:8]
    plain_codec = Codec(schema_registry=None)
    framed = confluent_frame(2_000_000_003, b"\x02")  # an id not cached anywhere: the worker must ask
    report = valid_report()
    single = plain_codec.encode("CaseReport", report)
    key = report_key(report["agency_id"], report["report_id"]).encode()
    with temp_workdir("registry-down-") as work:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "KAFKA_SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
            "KAFKA_SCHEMA_REGISTRY_MAX_RETRIES": "1",
        }
        workers = Workers(work, ns, env)
        try:
            workers.start("intake")
            workers.wait_ready(names=["intake"], timeout=120)
            await produce(kafka, f"{ns}.{topics.INTAKE}", [(b"agency-x/framed", framed), (key, single)])
            letters = await read_topic(f"{ns}.{topics.DEADLETTER}", until=lambda rs: len(rs) >= 2, timeout=90)
        finally:
            workers.stop_all()
    decoded = sorted((plain_codec.decode(r.value, "DeadLetter") for r in letters), key=lambda d: d["original_key"])
    assert [d["reason"] for d in decoded] == ["registry_unavailable", "registry_unavailable"]
    assert {d["original_value"] for d in decoded} == {framed, single}
    assert all("unreachable" in d["message"] for d in decoded)
