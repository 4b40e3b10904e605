"""The single-object codec: round trips, version resolution and interoperability with Apache Avro."""

from __future__ import annotations

import io
import json
from typing import Any

import avro.io
import avro.schema
import pytest
from fastavro import schemaless_writer

from referral_bus.codec import HEADER_SIZE, MAGIC, Codec
from referral_bus.contracts import Schema, contracts
from referral_bus.errors import InvalidFieldError, UndecodableError, UnknownSchemaError, WrongSchemaError
from tests.support.reports import encode_v1, valid_report


def apache(schema: Schema) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema.expanded))


def apache_encode(schema: Schema, record: dict[str, Any]) -> bytes:
    """Single-object encoding done entirely with the Apache library: its fingerprint, its DatumWriter."""
    parsed = apache(schema)
    buf = io.BytesIO()
    buf.write(MAGIC + parsed.fingerprint("CRC-64-AVRO"))
    avro.io.DatumWriter(parsed).write(record, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def apache_decode(data: bytes, writer: Schema, reader: Schema | None = None) -> Any:
    """Decode our bytes with the Apache library, after checking the header against its own fingerprint."""
    w = apache(writer)
    assert data[:2] == MAGIC
    assert data[2:HEADER_SIZE] == w.fingerprint("CRC-64-AVRO")
    datum_reader = avro.io.DatumReader(w, apache(reader) if reader else w)
    buf = io.BytesIO(data[HEADER_SIZE:])
    record = datum_reader.read(avro.io.BinaryDecoder(buf))
    assert buf.tell() == len(data) - HEADER_SIZE
    return record


def sample(name: str) -> dict[str, Any]:
    report = valid_report()
    case = {
        "case_id": "case-1",
        "accepted_at": 1,
        "report": report,
        "is_update": False,
        "linked_reports": [{"agency_id": "a", "report_id": "b", "matched_on": "hash"}],
        "victim_jurisdiction_as_sent": "VN-57",
    }
    samples: dict[str, dict[str, Any]] = {
        "CaseReport": report,
        "Case": case,
        "Acknowledgement": {
            "referral_id": "r",
            "recipient_id": "x",
            "outcome": "COMPLETED",
            "reason": None,
            "acknowledged_at": 5,
            "reason_code": None,
            "outcome_code": "support_provided",
            "transfer_to": None,
            "note": None,
            "action_id": "a-1",
        },
        "DeliveryReceipt": {
            "receipt_id": "rc",
            "referral_id": "r",
            "case_id": "c",
            "recipient_id": "x",
            "status": "DELIVERED",
            "at": 9,
            "channel": "webhook",
            "attempt": 1,
            "latency_ms": 12,
            "detail": None,
            "lifecycle_state": "DELIVERED",
            "reason_code": None,
            "outcome_code": None,
            "related_referral_id": None,
            "action_id": None,
            "since_routing_ms": 5000,
            "ack_sla_seconds": 3600,
        },
        "DeadLetter": {
            "dead_letter_id": "d",
            "stage": "intake",
            "reason": "undecodable",
            "message": "m",
            "field": None,
            "source_topic": "t",
            "source_partition": 0,
            "source_offset": 3,
            "original_key": b"k",
            "original_value": b"\x00\xff",
            "failed_at": 4,
            "original_headers": [{"key": "h", "value": b"v"}, {"key": "n", "value": None}],
            "case_id": None,
            "referral_id": None,
            "replay_count": 2,
            "truncated": [{"part": "original_value", "size": 9, "kept": 2, "sha256": "ab" * 32}],
            "original_digest": "sha256:" + "ab" * 32,
        },
    }
    return samples[name]


INTEROP = ("CaseReport", "Case", "Acknowledgement", "DeliveryReceipt", "DeadLetter")


@pytest.mark.parametrize("name", INTEROP)
def test_round_trip(name: str) -> None:
    codec = Codec()
    record = sample(name)
    data = codec.encode(name, record)
    assert data[:2] == MAGIC and data[2:HEADER_SIZE] == codec.schema(name).fingerprint
    assert codec.decode(data, name) == record


def test_encode_refuses_a_record_that_breaks_the_schema() -> None:
    report = valid_report()
    del report["victim"]
    with pytest.raises(InvalidFieldError):
        Codec().encode("CaseReport", report)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**70])
def test_encode_refuses_a_long_out_of_range_with_our_error(value: int) -> None:
    with pytest.raises(InvalidFieldError, match="CaseReport does not match its schema: OverflowError"):
        Codec().encode("CaseReport", valid_report(reported_at=value))


def test_v1_report_is_read_by_the_current_reader() -> None:
    v1 = contracts().history["CaseReport"][0]
    report = valid_report()
    data = encode_v1(report)
    del report["escalation_reason"], report["consented_services"]
    codec = Codec()
    assert codec.writer_of(data) is v1
    decoded = codec.decode(data, "CaseReport")
    victim = {**report["victim"], "sex": None}
    assert decoded == {**report, "escalation_reason": None, "consented_services": [], "victim": victim}


@pytest.mark.parametrize("name", INTEROP)
def test_apache_avro_encodes_and_we_decode(name: str) -> None:
    record = sample(name)
    data = apache_encode(contracts().current[name], record)
    assert Codec().decode(data, name) == record


@pytest.mark.parametrize("name", INTEROP)
def test_we_encode_and_apache_avro_decodes(name: str) -> None:
    record = sample(name)
    data = Codec().encode(name, record)
    assert apache_decode(data, contracts().current[name]) == record


def test_v2_report_without_sex_is_read_by_the_current_reader() -> None:
    v2 = contracts().history["CaseReport"][1]
    report = valid_report()
    del report["victim"]["sex"]
    buf = io.BytesIO()
    buf.write(MAGIC + v2.fingerprint)
    schemaless_writer(buf, v2.parsed, report)
    decoded = Codec().decode(buf.getvalue(), "CaseReport")
    assert decoded == {**report, "victim": {**report["victim"], "sex": None}}


def test_apache_v1_writer_read_into_v2_by_us_and_by_apache() -> None:
    v1, v2 = contracts().history["CaseReport"][0], contracts().current["CaseReport"]
    report = valid_report()
    del report["escalation_reason"], report["consented_services"], report["victim"]["sex"]
    data = apache_encode(v1, report)
    victim = {**report["victim"], "sex": None}
    expected = {**report, "escalation_reason": None, "consented_services": [], "victim": victim}
    assert Codec().decode(data, "CaseReport") == expected
    assert apache_decode(data, v1, v2) == expected


def test_every_fingerprint_matches_apache_avro() -> None:
    reg = contracts()
    for name, current in reg.current.items():
        for s in [*reg.history[name], current]:
            assert s.fingerprint == apache(s).fingerprint("CRC-64-AVRO"), f"{name} v{s.version}"


def test_fingerprint_byte_order_is_the_spec_little_endian() -> None:
    # Avro spec test vector: CRC-64-AVRO of the schema "null" is 7195948357588979594 (little-endian on the wire)
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    assert bytes.fromhex(fingerprint(to_parsing_canonical_form("null"), "CRC-64-AVRO")) == (
        7195948357588979594
    ).to_bytes(8, "little")


def test_decode_errors() -> None:
    codec = Codec()
    data = codec.encode("CaseReport", valid_report())
    with pytest.raises(UndecodableError):
        codec.decode(data[:5], "CaseReport")
    with pytest.raises(UndecodableError):
        codec.decode(b"\x01\x00" + data[2:], "CaseReport")
    with pytest.raises(UnknownSchemaError):
        codec.decode(MAGIC + bytes(8) + data[HEADER_SIZE:], "CaseReport")
    with pytest.raises(WrongSchemaError):
        codec.decode(data, "Case")
