"""Notifier through the broker: recipients, cases, referrals, a notifier worker stack, receipts read back."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import yaml

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs
from referral_bus.lanes import LaneTopics
from referral_bus.settings import KafkaSettings
from referral_devstack.agencies import write_secrets
from referral_devstack.produce import prepare
from referral_devstack.reading import read_topic
from referral_devstack.receivers import WebhookReceiver
from referral_devstack.workers import Workers, temp_workdir
from services.intake.report import validate
from services.notifier.handlers import Topics
from tests.support.reports import valid_report

CODEC = Codec()


# Every PII field of the report gets a distinctive value: none may reach a restricted recipient.
PII = {
    "victim.name": "PIIMARK-victim-name-7Q1",
    "victim.contact": "PIIMARK-victim-contact-7Q2",
    "victim.account_handle": "PIIMARK-victim-handle-7Q3",
    "offender.account_handle": "PIIMARK-offender-handle-7Q4",
    "offender.ip_address": "198.51.100.77",
    "offender.name": "PIIMARK-offender-name-7Q5",
    "reporter_contact": "PIIMARK-reporter-contact-7Q6",
    "narrative": "PIIMARK-narrative-7Q7 the victim lives at 12 Sample Street",
    "source_system": "PIIMARK-source-system-7Q8",
    "escalation_reason": "PIIMARK-escalation-reason-7Q9 payment deadline tonight",
    "platform": "PIIMARK-platform-7QA",
    "content_urls": "https://social.example.invalid/PIIMARK-url-7QB",
}


NEED_TO_KNOW_ALLOWED = {"victim.contact", "reporter_contact", "platform", "content_urls", "escalation_reason"}
CONVENTION_MINIMAL_ALLOWED = {"platform", "content_urls"}  # what a 24/7 contact point needs to preserve evidence


def recipient(rid: str, channel: dict[str, Any], profile: str = "need_to_know", **extra: Any) -> dict[str, Any]:
    """A directory entry for a test recipient."""
    kind = "international_partner" if profile == "convention_minimal" else "police"
    return {
        "id": rid,
        "name": f"TEST {rid}",
        "kind": kind,
        "jurisdictions": ["VN"],
        "channel": channel,
        "data_profile": profile,
        **extra,
    }


def webhook(web: WebhookReceiver, rid: str, **extra: Any) -> dict[str, Any]:
    """A webhook channel pointing at the local receiver."""
    return {"type": "webhook", "url": f"{web.base_url}/{rid}", **extra}


def case(report_id: str | None = None) -> dict[str, Any]:
    """A valid Case: the report factory's report with every PII field holding a distinctive marker."""
    marked = {path.replace(".", "__"): value for path, value in PII.items() if path != "content_urls"}
    raw = valid_report(
        report_id=report_id or f"TEST-{uuid.uuid4().hex[:10]}",
        agency_id="test-agency",
        reported_at=int(time.time() * 1000) - 60_000,
        category="SEXTORTION",
        victim__age_band="AGE_16_17",
        victim__sex=None,
        offender__country="PH",
        content_urls=[PII["content_urls"]],
        **marked,
    )
    report = validate(prepare(raw), now_ms=int(time.time() * 1000), clock_skew_ms=300_000).model_dump()
    return {
        "case_id": "case-" + uuid.uuid4().hex,
        "accepted_at": int(time.time() * 1000),
        "report": report,
        "linked_reports": [],
        "is_update": False,
    }


def adult_case(case_id: str, **report: Any) -> dict[str, Any]:
    """A Case as intake emits it: an adult in Hà Nội."""
    c = case()
    c["case_id"] = case_id
    c["report"].update(
        {
            "victim": {**c["report"]["victim"], "age_band": "ADULT", "is_minor": False},
            "consented_services": [],
            "offender": {**c["report"]["offender"], "country": None},
            "hosting_country": None,
            **report,
        }
    )
    return c


def referral(recipient_id: str, *, sla: int = 3600, priority: str = "P2", **extra: Any) -> dict[str, Any]:
    """A Referral as routing emits it, of a new marked Case."""
    return referral_of(case(), recipient_id, sla=sla, priority=priority, **extra)


def referral_of(c: dict[str, Any], recipient_id: str, *, sla: int, priority: str, **extra: Any) -> dict[str, Any]:
    """A Referral as routing emits it, of Case `c` (also bench.priority's)."""
    return {
        "referral_id": str(uuid.uuid4()),
        "case_id": c["case_id"],
        "recipient_id": recipient_id,
        "decision_id": str(uuid.uuid4()),
        "rule_ids": ["test-rule"],
        "reason": "test",
        "priority": priority,
        "ack_sla_seconds": sla,
        "escalation_target": None,
        "preservation_request": True,
        "created_at": int(time.time() * 1000),
        "attempt": 0,
        "not_before": None,
        "last_error": None,
        "case": c,
        **extra,
    }


def referral_like(template: dict[str, Any], recipient_id: str, priority: str, **extra: Any) -> dict[str, Any]:
    """A copy of `template` as a referral of its own (own ids and case id; the case itself is shared data)."""
    case_id = "case-" + uuid.uuid4().hex
    return {
        **template,
        "referral_id": str(uuid.uuid4()),
        "case_id": case_id,
        "case": {**template["case"], "case_id": case_id},
        "recipient_id": recipient_id,
        "priority": priority,
        **extra,
    }


def referral_records(refs: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """Referrals as (key, value) records, keyed by case_id as routing does."""
    return [(r["case_id"].encode(), CODEC.encode("Referral", r)) for r in refs]


async def produce(contract: str, records: list[tuple[bytes, bytes]]) -> None:
    """Produce raw (key, value) pairs to one of our topics in this test's namespace."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()), acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topics.name(contract), value=value, key=key)
    finally:
        await producer.stop()


async def produce_batch(contract: str, records: list[tuple[bytes, bytes]]) -> None:
    """Like `produce`, for thousands: every record sent at once (order kept per partition), then all awaited."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()), acks="all", linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topics.name(contract), value=value, key=key) for key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def send_referrals(refs: list[dict[str, Any]]) -> None:
    """Referrals to the referrals topic, keyed by case_id as routing does."""
    await produce(topics.REFERRALS, referral_records(refs))


async def receipts(until: Callable[[list[dict[str, Any]]], bool], timeout: float = 60) -> list[dict[str, Any]]:
    """DeliveryReceipts from the receipts topic once `until` holds (or at the deadline)."""
    records = await read_topic(
        topics.name(topics.RECEIPTS),
        until=lambda rs: until([CODEC.decode(r.value, "DeliveryReceipt") for r in rs]),
        timeout=timeout,
    )
    return [CODEC.decode(r.value, "DeliveryReceipt") for r in records]


def statuses(rs: list[dict[str, Any]], referral_id: str) -> list[str]:
    """A referral's receipt statuses in topic order."""
    return [r["status"] for r in rs if r["referral_id"] == referral_id]


class NotifierStack:
    """A recipients file, secrets, local receivers and one real notifier worker in this test's namespace."""

    def __init__(self, work: Path, namespace: str, kafka: str, recipients: list[dict[str, Any]], env: dict[str, str]):
        self.work = work
        self.directory = work / "recipients.yaml"
        self.directory.write_text(yaml.safe_dump({"version": 1, "recipients": recipients}), encoding="utf-8")
        self.secrets = work / "secrets"
        write_secrets(self.directory, self.secrets)
        self.workers = Workers(
            work,
            namespace,
            {
                "KAFKA_BOOTSTRAP_SERVERS": kafka,
                "NOTIFIER_DIRECTORY_PATH": str(self.directory),
                "NOTIFIER_SECRETS_DIR": str(self.secrets),
                "NOTIFIER_SLA_CHECK_INTERVAL_SECONDS": "0.5",
                "NOTIFIER_RETRY_RELEASE_INTERVAL_SECONDS": "0.2",
                **env,
            },
        )

    def start(self) -> None:
        """Start the notifier and wait for /readyz."""
        self.workers.start("notifier")
        self.workers.wait_ready(timeout=120, names=["notifier"])

    @property
    def port(self) -> int:
        """The notifier's web port."""
        return self.workers.ports["notifier"]

    def token(self, recipient_id: str) -> str:
        """A recipient's ack token."""
        return (self.secrets / f"ack-token-{recipient_id}").read_text(encoding="utf-8").strip()


@contextlib.asynccontextmanager
async def notifier_stack(
    web: WebhookReceiver,
    namespace: str,
    kafka: str,
    recipients: list[dict[str, Any]],
    env: dict[str, str],
    *,
    prefix: str,
) -> AsyncIterator[NotifierStack]:
    """Start `web`, then a `NotifierStack` (not yet started) in a temporary work folder named `prefix`...

    On the way out, also when an assertion failed, every worker and then `web` are stopped.
    """
    await web.start()
    try:
        with temp_workdir(prefix) as work:
            stack = NotifierStack(work, namespace, kafka, recipients, env)
            try:
                yield stack
            finally:
                stack.workers.stop_all()
    finally:
        await web.stop()


def named_topics(service: Any, **extra: Any) -> Any:
    """A notifier's `Topics` over a fake service: its lanes, and every other topic by its name."""
    return Topics(
        lanes=LaneTopics(service),
        retries=LaneTopics(service, retries=True),
        receipts=cast(Any, "receipts"),
        acks=cast(Any, "acks"),
        acks_in=cast(Any, "acks"),
        **extra,
    )
