"""A report travels agency → intake → routing → notifier → webhook over the real broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.settings import REPO_ROOT
from referral_devstack.agencies import local_agencies
from referral_devstack.produce import produce
from referral_devstack.reading import read_topic
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from referral_devstack.workers import Workers, temp_workdir
from services.routing.rules import CaseView, load_rules
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

EXAMPLES = REPO_ROOT / "examples" / "reports.jsonl"


def expected_referrals(directory: Path, rules: Path, reports: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(report_id, recipient_id) pairs the shipped rules give for the valid sample reports."""
    from services.intake.accept import case_id_for

    ruleset = load_rules(directory, rules)
    out = set()
    for r in reports:
        case = {"case_id": case_id_for(r["agency_id"], r["report_id"]), "report": r}
        for chosen in ruleset.decide(CaseView.from_case(case)).recipients:
            out.add((r["report_id"], chosen.recipient.id))
    return out


async def test_samples_reach_exactly_the_expected_recipients(kafka: str, namespace: str) -> None:
    lines = [json.loads(x) for x in EXAMPLES.read_text().splitlines() if x.strip()]
    valid = [r for r in lines if "malformed" not in (r.get("narrative") or "")]
    assert len(valid) >= 5
    web, mail = WebhookReceiver(), MailReceiver()
    await web.start()
    mail.start()
    with temp_workdir() as work:
        directory, env = local_agencies(work, web, mail)
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka, **env})
        try:
            workers.start_all()
            workers.wait_ready()
            await produce(EXAMPLES)
            garbage = b"\x01\xffnot avro at all"  # 00 would be the Confluent framing: unknown_schema
            producer = AIOKafkaProducer(bootstrap_servers=kafka)
            await producer.start()
            try:
                await producer.send_and_wait(topics.name(topics.INTAKE), garbage, key=b"agency-x/garbage-1")
            finally:
                await producer.stop()
            expected = expected_referrals(directory, REPO_ROOT / "config" / "rules.yaml", valid)
            webhook_expected = {
                (rep, rid) for rep, rid in expected if not rid.startswith(("intl-", "vn-child-hotline"))
            }

            def delivered() -> set[tuple[str, str]]:
                return {(d.json()["case"]["report"]["report_id"], d.recipient_id) for d in web.deliveries}

            assert await wait_for(lambda: delivered() >= webhook_expected, 90), (
                f"missing: {webhook_expected - delivered()}\n" + workers.tail("notifier")
            )
            # exactly the expected ones, each once, each with its referral id as idempotency key
            assert delivered() == webhook_expected
            keys = [d.idempotency_key for d in web.deliveries]
            assert len(keys) == len(set(keys)) == len(webhook_expected)
            for d in web.deliveries:
                assert d.idempotency_key == d.json()["referral_id"]
                assert d.json()["recipient_id"] == d.recipient_id

            # the malformed sample is in the dead-letter topic with its original bytes
            codec = Codec()

            def intake_letters(rs: list[Any]) -> list[dict[str, Any]]:
                letters = [codec.decode(r.value, "DeadLetter") for r in rs]
                return [d for d in letters if d["stage"] == "intake"]

            dl = await read_topic(
                topics.name(topics.DEADLETTER), until=lambda rs: len(intake_letters(rs)) >= 2, timeout=30
            )
            by_reason = {d["reason"]: d for d in intake_letters(dl)}
            assert set(by_reason) == {"invalid_field", "undecodable"}
            invalid = by_reason["invalid_field"]
            assert "victim" in invalid["message"]
            assert codec.decode(invalid["original_value"], "CaseReport")["report_id"] == "HL111-2026-0004"
            assert by_reason["undecodable"]["original_value"] == garbage
            assert by_reason["undecodable"]["original_key"] == b"agency-x/garbage-1"
            assert by_reason["undecodable"]["source_topic"] == topics.name(topics.INTAKE)
        finally:
            workers.stop_all()
            await web.stop()
            mail.stop()
