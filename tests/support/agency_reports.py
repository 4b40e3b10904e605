"""Agencies' reports about given content, produced to the shared intake topic as an agency system would."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.reading import read_topic
from services.intake.accept import report_key
from tests.support.reports import valid_report

codec = Codec()


def report_with(agency: str, sha: str, url: str) -> dict[str, Any]:
    """A valid report from `agency` about the content with this sha256 and URL."""
    return valid_report(
        agency_id=agency,
        report_id=f"{agency[:3].upper()}-{uuid.uuid4().hex[:10]}",
        content_hashes=[{"algorithm": "sha256", "value": sha}],
        content_urls=[url],
    )


async def send_report(kafka: str, report: dict[str, Any]) -> None:
    """The report to the intake topic, keyed as agencies key it, acknowledged by the broker."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        key = report_key(report["agency_id"], report["report_id"]).encode()
        await producer.send_and_wait(topics.name(topics.INTAKE), codec.encode("CaseReport", report), key=key)
    finally:
        await producer.stop()


def fresh_content() -> tuple[str, str]:
    """A sha256 and URL no other test uses."""
    token = uuid.uuid4().hex
    return hashlib.sha256(token.encode()).hexdigest(), f"https://social.example.invalid/p/{token}"


async def cases_until(
    kafka: str, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 90
) -> list[dict[str, Any]]:
    """Case events on the cases topic, read until `until(cases)` holds (or the deadline)."""
    records = await read_topic(
        topics.name(topics.CASES),
        until=lambda rs: until([codec.decode(r.value, "Case") for r in rs]),
        timeout=timeout,
        bootstrap=kafka,
    )
    return [codec.decode(r.value, "Case") for r in records]


def reports_of(cases: list[dict[str, Any]]) -> set[str]:
    """The report ids of these Case events."""
    return {c["report"]["report_id"] for c in cases}
