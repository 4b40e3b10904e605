"""Correlation through the real broker: the same content from two agencies is one case, notified once.

Real `faust worker` processes on the local broker: intake alone for the cases topic, then the three
services with a real webhook receiver and SMTP server for what recipients actually get.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import read_topic
from referral_bus.settings import REPO_ROOT
from referral_devstack.agencies import local_agencies
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from referral_devstack.workers import Workers, running, temp_workdir
from services.intake.accept import case_id_for, report_key
from services.routing.rules import CaseView, load_rules
from tests.support.polling import wait_for
from tests.support.reports import valid_report

pytestmark = [pytest.mark.kafka]

AGENCY_A = "vn-hotline-111"
AGENCY_B = "platform-examplesocial"
codec = Codec()


def report_with(agency: str, sha: str, url: str) -> dict[str, Any]:
    """A valid report from `agency` about the content with this sha256 and URL."""
    return valid_report(
        agency_id=agency,
        report_id=f"{agency[:3].upper()}-{uuid.uuid4().hex[:10]}",
        content_hashes=[{"algorithm": "sha256", "value": sha}],
        content_urls=[url],
    )


def fresh_content() -> tuple[str, str]:
    """A sha256 and URL no other test uses."""
    token = uuid.uuid4().hex
    return hashlib.sha256(token.encode()).hexdigest(), f"https://social.example.invalid/p/{token}"


async def send_report(kafka: str, report: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        key = report_key(report["agency_id"], report["report_id"]).encode()
        await producer.send_and_wait(topics.name(topics.INTAKE), codec.encode("CaseReport", report), key=key)
    finally:
        await producer.stop()


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


@contextlib.contextmanager
def intake_only(ns: str, kafka: str, **env: str) -> Iterator[Workers]:
    with running(ns, {"KAFKA_BOOTSTRAP_SERVERS": kafka, **env}, "intake", prefix="corr-") as workers:
        yield workers


def reports_of(cases: list[dict[str, Any]]) -> set[str]:
    return {c["report"]["report_id"] for c in cases}


async def test_two_agencies_same_sha256_within_the_window_make_one_case_and_one_update(
    kafka: str, namespace: str
) -> None:
    sha, _ = fresh_content()
    a = report_with(AGENCY_A, sha, "https://social.example.invalid/p/a-only")
    b = report_with(AGENCY_B, sha, "https://other.example.invalid/v/b-only")  # shares only the hash
    with intake_only(namespace, kafka) as workers:
        await send_report(kafka, a)
        # the first case is out before the second agency reports (otherwise either could be first)
        first = await cases_until(kafka, lambda cs: a["report_id"] in reports_of(cs))
        assert [c["report"]["report_id"] for c in first] == [a["report_id"]]
        await send_report(kafka, b)
        cases = await cases_until(kafka, lambda cs: b["report_id"] in reports_of(cs))
        assert workers.procs["intake"].poll() is None, workers.tail("intake")
    case_a = case_id_for(AGENCY_A, a["report_id"])
    assert len(cases) == 2, [(c["case_id"], c["is_update"]) for c in cases]
    original, update = cases
    assert original["case_id"] == case_a and original["is_update"] is False and original["linked_reports"] == []
    assert update["case_id"] == case_a, "the second agency's report joins the first case"
    assert update["is_update"] is True
    assert update["linked_reports"] == [{"agency_id": AGENCY_B, "report_id": b["report_id"], "matched_on": "hash"}]
    assert update["report"]["report_id"] == b["report_id"]
    assert case_id_for(AGENCY_B, b["report_id"]) not in {c["case_id"] for c in cases}


async def test_outside_the_window_two_agencies_make_two_cases(kafka: str, namespace: str) -> None:
    sha, url = fresh_content()
    a, b = report_with(AGENCY_A, sha, url), report_with(AGENCY_B, sha, url)
    with intake_only(namespace, kafka, INTAKE_CORRELATION_WINDOW_HOURS="0") as workers:
        await send_report(kafka, a)
        await cases_until(kafka, lambda cs: a["report_id"] in reports_of(cs))
        await send_report(kafka, b)
        cases = await cases_until(kafka, lambda cs: b["report_id"] in reports_of(cs))
        assert workers.procs["intake"].poll() is None, workers.tail("intake")
    # two cases on (possibly) two partitions of the cases topic: compare without order
    assert sorted((c["case_id"], c["is_update"], c["linked_reports"]) for c in cases) == sorted(
        [
            (case_id_for(AGENCY_A, a["report_id"]), False, []),
            (case_id_for(AGENCY_B, b["report_id"]), False, []),
        ]
    )


def routing_linked_count(port: int) -> float:
    """routing's `linked` outcome counter from its /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("referral_bus_events_total{") and 'stage="routing"' in line and 'outcome="linked"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_recipients_get_one_referral_for_content_two_agencies_reported(kafka: str, namespace: str) -> None:
    sha, url = fresh_content()
    a, b = report_with(AGENCY_A, sha, url), report_with(AGENCY_B, sha, url)
    case_a = case_id_for(AGENCY_A, a["report_id"])
    web, mail = WebhookReceiver(), MailReceiver()
    await web.start()
    mail.start()
    with temp_workdir("corr-e2e-") as work:
        directory, env = local_agencies(work, web, mail)
        decision = load_rules(directory, REPO_ROOT / "config" / "rules.yaml").decide(
            CaseView.from_case({"case_id": case_a, "report": a})
        )
        expected = {c.recipient.id for c in decision.recipients}
        assert expected, "the sample report must route somewhere for this test to mean anything"
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka, **env})
        try:
            workers.start_all()
            workers.wait_ready(timeout=150)
            await send_report(kafka, a)
            await cases_until(kafka, lambda cs: a["report_id"] in reports_of(cs))
            await send_report(kafka, b)
            cases = await cases_until(kafka, lambda cs: b["report_id"] in reports_of(cs))
            assert [(c["case_id"], c["is_update"]) for c in cases] == [(case_a, False), (case_a, True)]
            # routing has seen the update (and skipped it) ...
            linked = await wait_for(lambda: routing_linked_count(workers.ports["routing"]) >= 1, 60)
            assert linked, workers.tail("routing")

            # ... and every recipient got the shared content once: one referral each, all for the first case
            def referral_recipients(rs: list[Any]) -> list[str]:
                return [codec.decode(r.value, "Referral")["recipient_id"] for r in rs]

            referrals = await read_topic(
                topics.name(topics.REFERRALS),
                until=lambda rs: set(referral_recipients(rs)) >= expected,
                timeout=60,
                bootstrap=kafka,
            )
            decoded = [codec.decode(r.value, "Referral") for r in referrals]
            assert Counter(r["recipient_id"] for r in decoded) == Counter(expected)
            assert {r["case_id"] for r in decoded} == {case_a}
            decisions = await read_topic(topics.name(topics.DECISIONS), until=lambda rs: len(rs) >= 1, bootstrap=kafka)
            assert [codec.decode(r.value, "RoutingDecision")["case_id"] for r in decisions] == [case_a]

            webhook_expected = {
                rid
                for rid in expected
                if next(c for c in decision.recipients if c.recipient.id == rid).recipient.channel.type == "webhook"
            }
            reached = await wait_for(lambda: {d.recipient_id for d in web.deliveries} >= webhook_expected, 60)
            assert reached, workers.tail("notifier")
            delivered = Counter(d.recipient_id for d in web.deliveries)
            print("recipients:", sorted(expected), "webhook deliveries:", dict(delivered))
            assert delivered == Counter(webhook_expected), "one delivery per webhook recipient, not two"
            assert {d.json()["case"]["case_id"] for d in web.deliveries} == {case_a}
            for name in ("intake", "routing", "notifier"):
                assert workers.procs[name].poll() is None, workers.tail(name)
        finally:
            workers.stop_all()
            await web.stop()
            mail.stop()
