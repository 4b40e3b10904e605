"""Closed loop over the real broker and a real notifier: acknowledgements by endpoint and by topic,
401 for bad credentials, escalation of a referral nobody acknowledges, `referrals pending`."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from typing import Any

import httpx
import pytest

from referral_bus import topics
from referral_bus.cli import main as cli
from referral_bus.devstack import WebhookReceiver, acknowledge, temp_workdir
from tests.integration.test_notifier_delivery import (
    CODEC,
    NotifierStack,
    produce,
    receipts,
    recipient,
    referral,
    send_referrals,
    statuses,
    wait_for,
    webhook,
)

pytestmark = [pytest.mark.kafka]


async def test_acknowledgements_close_the_loop_and_silence_escalates(kafka: str, namespace: str) -> None:
    web = WebhookReceiver()
    await web.start()
    recipients = [
        recipient("acker", webhook(web, "acker")),
        recipient("topic-acker", webhook(web, "topic-acker")),
        recipient("silent", webhook(web, "silent"), escalation_target="duty"),
        recipient("duty", webhook(web, "duty"), "full"),
    ]
    try:
        with temp_workdir("notifier-acks-") as work:
            stack = NotifierStack(work, namespace, kafka, recipients, {})
            stack.start()
            try:
                accepted = referral("acker")
                rejected = referral("acker")
                by_topic = referral("topic-acker")
                silent = referral("silent", sla=2, priority="P1")
                await send_referrals([accepted, rejected, by_topic, silent])
                ids = [r["referral_id"] for r in (accepted, rejected, by_topic, silent)]
                rs = await receipts(lambda rs: all("DELIVERED" in statuses(rs, i) for i in ids), timeout=120)
                assert all("DELIVERED" in statuses(rs, i) for i in ids), stack.workers.tail("notifier", 40)

                url = f"http://127.0.0.1:{stack.port}/referrals/{accepted['referral_id']}/ack"
                body = {"outcome": "ACCEPTED"}
                async with httpx.AsyncClient(timeout=10) as client:
                    # no token, a wrong token, a token for a referral that does not exist: all the same 401
                    assert (await client.post(url, json=body)).status_code == 401
                    wrong = {"Authorization": "Bearer not-a-token"}
                    assert (await client.post(url, json=body, headers=wrong)).status_code == 401
                    missing = f"http://127.0.0.1:{stack.port}/referrals/no-such-referral/ack"
                    r401 = await client.post(missing, json=body, headers=wrong)
                    assert r401.status_code == 401 and r401.json() == (await client.post(url, json=body)).json()
                    # another recipient's valid token does not reach this referral
                    other = {"Authorization": f"Bearer {stack.token('topic-acker')}"}
                    assert (await client.post(url, json=body, headers=other)).status_code == 404
                    # the right token, but a body over the limit or malformed
                    mine = {"Authorization": f"Bearer {stack.token('acker')}"}
                    big = await client.post(url, content=b"{" + b" " * 10_000 + b"}", headers=mine)
                    assert big.status_code == 413
                    assert (await client.post(url, json={"outcome": "MAYBE"}, headers=mine)).status_code == 400

                # nothing above changed anything
                rs = await receipts(lambda rs: all("DELIVERED" in statuses(rs, i) for i in ids), timeout=120)
                assert statuses(rs, accepted["referral_id"]) == ["DELIVERED"]

                # by endpoint: accepted then completed; rejected with a reason
                token = stack.token("acker")
                assert await acknowledge(stack.port, accepted["referral_id"], token) == 202
                assert (
                    await acknowledge(stack.port, rejected["referral_id"], token, "REJECTED", reason="not ours") == 202
                )
                # by topic: the recipient produces an Acknowledgement keyed by the case id
                ack = {
                    "referral_id": by_topic["referral_id"],
                    "recipient_id": "topic-acker",
                    "outcome": "ACCEPTED",
                    "reason": None,
                    "acknowledged_at": int(time.time() * 1000),
                }
                await produce(topics.ACKS, [(by_topic["case_id"].encode(), CODEC.encode("Acknowledgement", ack))])

                def closed(rs: list[dict[str, Any]]) -> bool:
                    return (
                        "ACKNOWLEDGED" in statuses(rs, accepted["referral_id"])
                        and "REJECTED" in statuses(rs, rejected["referral_id"])
                        and "ACKNOWLEDGED" in statuses(rs, by_topic["referral_id"])
                        and "ESCALATED" in statuses(rs, silent["referral_id"])
                    )

                rs = await receipts(closed, timeout=120)
                assert closed(rs), stack.workers.tail("notifier", 40)
                assert await acknowledge(stack.port, accepted["referral_id"], token, "COMPLETED") == 202
                rs = await receipts(lambda rs: "COMPLETED" in statuses(rs, accepted["referral_id"]), timeout=60)
                assert statuses(rs, accepted["referral_id"]) == ["DELIVERED", "ACKNOWLEDGED", "COMPLETED"]
                reject = next(r for r in rs if r["status"] == "REJECTED")
                assert reject["detail"] == "not ours"
                # acknowledged referrals never escalate; the silent one escalated to its target
                for r in (accepted, rejected, by_topic):
                    assert "ESCALATED" not in statuses(rs, r["referral_id"])
                escalation = next(r for r in rs if r["status"] == "ESCALATED")
                assert "duty" in (escalation["detail"] or "")
                assert await wait_for(lambda: any(d.recipient_id == "duty" for d in web.deliveries), 60)
                to_duty = [d for d in web.deliveries if d.recipient_id == "duty"]
                assert silent["referral_id"] in to_duty[0].json()["reason"]
                # once per SLA period: every escalation is for another period and reaches the target once
                periods = [r["attempt"] for r in rs if r["status"] == "ESCALATED"]
                assert len(periods) == len(set(periods))
                assert len({d.idempotency_key for d in to_duty}) == len(to_duty)

                # the unacknowledged P1 is listed first by `referral-bus referrals pending`
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    assert await asyncio.to_thread(cli, ["referrals", "pending", "--json"]) == 0
                rows = json.loads(out.getvalue())
                listed = [row["referral_id"] for row in rows]
                assert listed[0] == silent["referral_id"] and rows[0]["priority"] == "P1" and rows[0]["overdue"]
                for r in (accepted, rejected, by_topic):
                    assert r["referral_id"] not in listed
            finally:
                stack.workers.stop_all()
    finally:
        await web.stop()
