"""Safeguards through the real broker, with real routing and notifier workers, a real HTTP receiver and SMTP
server: the issue's escalation (short SLA), default-recipient, transport and annotation cases, each fixed.

The rules carry the issue's bug on purpose (imminent danger escalates to the police duty desk whatever
the survivor said); the gate in routing and in the notifier keeps her case away from the police.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web as aioweb

from referral_bus import topics
from referral_cli.main import main as cli
from referral_devstack.agencies import write_secrets
from referral_devstack.reading import read_topic
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from referral_devstack.workers import Workers, free_port, temp_workdir
from services.notifier.sla import escalation_id
from services.routing.decisions import referral_id_for
from tests.support.notifier import (
    CODEC,
    CONVENTION_MINIMAL_ALLOWED,
    NEED_TO_KNOW_ALLOWED,
    PII,
    adult_case,
    produce,
    receipts,
    referral,
    send_referrals,
    statuses,
)
from tests.support.safeguards import RULES as SAMPLE_RULES

pytestmark = [pytest.mark.kafka]

# the proof's small sample, with the bug: imminent danger escalates to the duty desk whatever she said
RULES = SAMPLE_RULES.replace("child-hotline", "hotline").replace(
    "then: {priority: P1, ack_sla: 15m}", "then: {priority: P1, ack_sla: 2, escalation_target: duty}"
)


def _hook(base: str, rid: str) -> dict[str, Any]:
    return {"type": "webhook", "url": f"{base}/{rid}"}


def directory(web: WebhookReceiver, mail: MailReceiver, redirect_port: int) -> list[dict[str, Any]]:
    """Loopback receivers in clear (allowed by the development setting the test workers run with)."""

    def r(rid: str, kind: str, places: list[str], ch: dict[str, Any], profile: str = "need_to_know", **x: Any) -> Any:
        return {
            "id": rid,
            "name": rid,
            "kind": kind,
            "jurisdictions": places,
            "channel": ch,
            "data_profile": profile,
            **x,
        }

    return [
        r("police-vn", "police", ["VN"], _hook(web.base_url, "police-vn"), "full", escalation_target="duty"),
        r("duty", "police", ["VN"], _hook(web.base_url, "duty"), "full"),
        r("cp-vn", "child_protection", ["VN"], _hook(web.base_url, "cp-vn")),
        r("health", "health", ["VN"], _hook(web.base_url, "health")),
        r(
            "hotline",
            "hotline",
            ["VN"],
            {
                "type": "email",
                "to": ["h@example.invalid"],
                "smtp_host": "127.0.0.1",
                "smtp_port": mail.port,
                "tls": "none",
            },
            audience="children",
        ),
        r("partner-x", "international_partner", ["TH"], {"type": "kafka"}, "convention_minimal"),
        # reached only by referrals produced straight to the topic (a replay): its URL answers 307
        r("moved", "social_services", ["KH"], {"type": "webhook", "url": f"http://127.0.0.1:{redirect_port}/x"}),
        # personal data in clear to a host that is not loopback: refused even in development
        r("clear", "child_protection", ["KH"], {"type": "webhook", "url": "http://192.0.2.10/referrals"}),
    ]


async def redirector(port: int, target: str) -> aioweb.AppRunner:
    """A webhook endpoint that answers 307 to `target` (aiohttp would re-post the document and signature)."""

    async def moved(_: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(status=307, headers={"Location": target})

    app = aioweb.Application()
    app.router.add_post("/x", moved)
    runner = aioweb.AppRunner(app, access_log=None)
    await runner.setup()
    await aioweb.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def test_no_path_breaks_a_safeguard(kafka: str, namespace: str) -> None:
    assert "escalation_target: duty" in RULES  # the bug under test is really in the rules
    web, mail = WebhookReceiver(), MailReceiver()
    await web.start()
    mail.start()
    redirect_port = free_port()
    runner = await redirector(redirect_port, f"{web.base_url}/thief")
    try:
        with temp_workdir("safeguards-") as work:
            (work / "recipients.yaml").write_text(
                yaml.safe_dump({"version": 1, "recipients": directory(web, mail, redirect_port)}), encoding="utf-8"
            )
            (work / "rules.yaml").write_text(RULES, encoding="utf-8")
            write_secrets(work / "recipients.yaml", work / "secrets")
            workers = Workers(
                work,
                namespace,
                {
                    "KAFKA_BOOTSTRAP_SERVERS": kafka,
                    "ROUTING_DIRECTORY_PATH": str(work / "recipients.yaml"),
                    "ROUTING_RULES_PATH": str(work / "rules.yaml"),
                    "NOTIFIER_DIRECTORY_PATH": str(work / "recipients.yaml"),
                    "NOTIFIER_SECRETS_DIR": str(work / "secrets"),
                    "NOTIFIER_SLA_CHECK_INTERVAL_SECONDS": "0.5",
                },
            )
            try:
                workers.start("routing")
                workers.start("notifier")
                workers.wait_ready(timeout=180, names=["routing", "notifier"])
                await _scenario(workers, web, mail)
            finally:
                workers.stop_all()
    finally:
        await runner.cleanup()
        mail.stop()
        await web.stop()


async def _scenario(workers: Workers, web: WebhookReceiver, mail: MailReceiver) -> None:
    # 1. escalation: adult, consent REFUSED, consented to health, imminent danger (SLA 2 s)
    refused = adult_case("case-refused", consent="REFUSED", consented_services=["health"], severity="IMMINENT_DANGER")
    # 2. default: adult, consent not asked, no services: no rule chooses anyone
    held = adult_case("case-held", consent="NOT_ASKED", category="DOXXING", severity="MEDIUM")
    await produce(topics.CASES, [(c["case_id"].encode(), CODEC.encode("Case", c)) for c in (refused, held)])
    # 3. the same escalation from a referral routed before the fix (a replayed dead letter): target duty desk
    replayed = referral("health", sla=2, priority="P1", escalation_target="duty")
    replayed["case"] = adult_case(replayed["case_id"], consent="REFUSED", consented_services=["health"])
    # 4. transport: a redirecting endpoint, and personal data in clear to a remote host
    moved, clear = referral("moved"), referral("clear")
    # 5. annotations: every string field carries a marker; each recipient gets what its profile allows
    to_partner, to_cp = referral("partner-x"), referral("cp-vn")
    await send_referrals([replayed, moved, clear, to_partner, to_cp])

    health_ref = referral_id_for("case-refused", "health")
    replay_escalation = escalation_id(replayed["referral_id"], 1)

    def done(rs: list[dict[str, Any]]) -> bool:
        return (
            "ESCALATED" in statuses(rs, health_ref)
            and "ESCALATED" in statuses(rs, replayed["referral_id"])
            and "REFUSED" in statuses(rs, replay_escalation)
            and "FAILED" in statuses(rs, moved["referral_id"])
            and "REFUSED" in statuses(rs, clear["referral_id"])
            and "DELIVERED" in statuses(rs, to_partner["referral_id"])
            and "DELIVERED" in statuses(rs, to_cp["referral_id"])
        )

    rs = await receipts(done, timeout=240)
    assert done(rs), workers.tail("notifier", 60) + workers.tail("routing", 30)

    # 1. the decision kept health, refused the duty desk as escalation target; nobody escalated to police
    decisions = {
        d["case_id"]: d
        for d in (
            CODEC.decode(r.value, "RoutingDecision")
            for r in await read_topic(topics.name(topics.DECISIONS), until=lambda rs: len(rs) >= 2, timeout=60)
        )
    }
    d = decisions["case-refused"]
    assert [r["recipient_id"] for r in d["recipients"]] == ["health"]
    assert {(r["recipient_id"], r["safeguard_id"], r["path"]) for r in d["refused"]} == {
        ("duty", "adult-without-consent-no-police", "escalation")
    }
    escalated = next(r for r in rs if r["referral_id"] == health_ref and r["status"] == "ESCALATED")
    assert "no escalation target" in (escalated["detail"] or "")
    # 3. the replayed referral's escalation is refused by the notifier's gate: REFUSED, not sent
    refusal = next(r for r in rs if r["referral_id"] == replay_escalation and r["status"] == "REFUSED")
    assert refusal["recipient_id"] == "duty" and "adult-without-consent-no-police" in (refusal["detail"] or "")
    assert "refused by the safeguards" in next(
        r["detail"] for r in rs if r["referral_id"] == replayed["referral_id"] and r["status"] == "ESCALATED"
    )
    assert not [x for x in web.deliveries if x.recipient_id in {"duty", "police-vn"}], "a police desk received her case"

    # 2. held for the reporting agency: no referral, never the child hotline, listed by `referrals pending`
    h = decisions["case-held"]
    assert h["held"] and h["recipients"] == [] and h["held_for"] == held["report"]["agency_id"] and h["unmatched"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert await asyncio.to_thread(cli, ["referrals", "pending", "--json"]) == 0
    rows = {(row["case_id"], row["state"]) for row in json.loads(out.getvalue())}
    assert ("case-held", "HELD") in rows and (clear["case_id"], "REFUSED") in rows
    assert mail.messages == []

    # 4. a 307 is a failed attempt with a clear error; nothing reached where it pointed; clear text refused
    failed = next(r for r in rs if r["referral_id"] == moved["referral_id"] and r["status"] == "FAILED")
    assert "redirect" in (failed["detail"] or "") and "DELIVERED" not in statuses(rs, moved["referral_id"])
    assert not [x for x in web.deliveries if x.recipient_id == "thief"]
    letters = [
        CODEC.decode(r.value, "DeadLetter")
        for r in await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 2, timeout=60)
    ]
    clear_letter = next(x for x in letters if x.get("referral_id") == clear["referral_id"])
    assert (
        clear_letter["reason"] == "safeguard_refused"
        and "personal-data-encrypted-in-transit" in clear_letter["message"]
    )

    # 5. each payload holds exactly what its profile allows; withheld fields are absent, never invented
    partner = await read_topic(topics.name(topics.partner_topic("partner-x")), until=lambda r: len(r) >= 1, timeout=60)
    doc = json.loads(partner[0].value)
    text = partner[0].value.decode()
    assert {k for k, v in PII.items() if v in text} == CONVENTION_MINIMAL_ALLOWED
    assert "consent" not in doc["case"]["report"] and "age_band" not in doc["case"]["report"]["victim"]
    body = next(x for x in web.deliveries if x.recipient_id == "cp-vn").body.decode()
    assert {k for k, v in PII.items() if v in body} == NEED_TO_KNOW_ALLOWED

    # the refusals are counted (metric labels: stage, safeguard, path; never a personal value)
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = (await client.get(f"http://127.0.0.1:{workers.ports['notifier']}/metrics")).text
        metrics += (await client.get(f"http://127.0.0.1:{workers.ports['routing']}/metrics")).text
    refusals = [line for line in metrics.splitlines() if line.startswith("referral_bus_safeguard_refusals")]
    assert any('path="escalation"' in x and 'stage="notifier"' in x for x in refusals), refusals
    assert any('path="delivery"' in x for x in refusals) and any('stage="routing"' in x for x in refusals)
    assert not [k for k, v in PII.items() if v in metrics]
