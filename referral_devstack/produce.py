"""`referral-bus produce`: an agency's JSON-lines reports → Avro → the intake topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.clock import now_ms
from referral_bus.codec import Codec
from referral_bus.errors import ReferralBusError
from referral_bus.kafka import client_kwargs
from referral_bus.settings import KafkaSettings, config_file
from referral_bus.tracing import stage_span
from referral_domain.agencies import load_agencies

TIMESTAMP_FIELDS = ("reported_at", "received_at")


def to_epoch_ms(value: Any) -> Any:
    """ISO 8601 text (`2026-11-28T10:15:00Z`) → epoch milliseconds; numbers pass through."""
    if isinstance(value, str):
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    return value


def prepare(report: dict[str, Any], *, stamp: bool = True) -> dict[str, Any]:
    """A report from JSON as the Avro writer needs it: timestamps in ms, received_at set now."""
    out = dict(report)
    for name in TIMESTAMP_FIELDS:
        if name in out:
            out[name] = to_epoch_ms(out[name])
    if stamp:
        out["received_at"] = now_ms()
    return out


@dataclass(frozen=True)
class Encoded:
    """One line ready to produce."""

    line: int
    key: bytes
    value: bytes
    report_id: str
    agency_id: str = ""


def encode_lines(path: Path, codec: Codec) -> Iterator[Encoded]:
    """Encode every line; raise ReferralBusError naming the line and field for the first bad one."""
    with path.open(encoding="utf-8") as fh:
        for n, text in enumerate(fh, start=1):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            try:
                report = prepare(json.loads(text))
            except (json.JSONDecodeError, ValueError) as exc:
                raise ReferralBusError(
                    f"{path}:{n}: not a JSON object with ISO timestamps ({type(exc).__name__})"
                ) from None
            try:
                value = codec.encode("CaseReport", report)
            except ReferralBusError as exc:
                raise ReferralBusError(f"{path}:{n}: does not match the CaseReport schema: {exc}") from None
            key = f"{report['agency_id']}/{report['report_id']}".encode()
            yield Encoded(n, key, value, report["report_id"], str(report.get("agency_id", "")))


def agency_topic(agency: str, records: list[Encoded], registry: Path) -> str:
    """The agency's own intake topic, once every line is the agency's own and the agency is registered."""
    if agency not in load_agencies(registry).agencies:
        raise ReferralBusError(f"agency {agency} is not in the agency registry {registry}: it has no intake topic")
    foreign = [r.line for r in records if r.agency_id != agency]
    if foreign:
        lines = ", ".join(map(str, foreign[:10]))
        raise ReferralBusError(
            f"line(s) {lines}: agency_id is not {agency}; an agency reports only under its own id (nothing produced)"
        )
    return topics.name(topics.intake_topic(agency))


async def produce(
    path: Path,
    kafka: KafkaSettings | None = None,
    *,
    topic: str | None = None,
    agency: str | None = None,
    registry: Path | None = None,
) -> list[Encoded]:
    """Validate every line first (all or nothing), then produce them in order and wait for acks.

    With `agency`, to that agency's own intake topic (what its Kafka login may write to); otherwise to
    the internal intake topic (local development, operators).
    """
    codec = Codec()
    records = list(encode_lines(path, codec))
    if agency is not None:
        topic = agency_topic(agency, records, registry or config_file("agencies.yaml"))
    producer = AIOKafkaProducer(**client_kwargs(kafka or KafkaSettings()), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for r in records:
            # One report, one trace: this span is its root, and its context is the record's traceparent
            # (tracing.instrument_sends), so intake's process span is its child.
            with stage_span("referral-bus produce", report_id=r.report_id):
                futures.append(await producer.send(topic or topics.name(topics.INTAKE), r.value, key=r.key))
        for fut in futures:
            await fut
    finally:
        await producer.stop()
    return records
