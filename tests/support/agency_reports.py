"""Agencies' reports about given content, produced to the shared intake topic as an agency system would."""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
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
