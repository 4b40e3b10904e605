"""Closed loop over the real broker and a real notifier: acknowledgements by endpoint and by topic,
401 for bad credentials, escalation of a referral nobody acknowledges, `referrals pending`."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from referral_bus import topics
from referral_cli.main import main as cli
from referral_devstack.receivers import WebhookReceiver, acknowledge
from services.notifier.sla import escalation_id
from tests.support import notifier as nt
from tests.support.pages import assert_only_our_pages
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka]


async def assert_escalated_once_per_period(silent_id: str, web: WebhookReceiver) -> list[dict[str, Any]]:
    """Every SLA period of every referral escalated at most once, and each escalation reached its target once.

    The worker keeps running (the silent referral and the escalation referrals themselves go on
    escalating, each under its own referral id), so the check takes a snapshot of the target's
    deliveries, then reads receipts until each of those escalations' ESCALATED receipt is in (polling
    to a generous deadline), and judges everything it read.
    """
    to_duty = [d for d in web.deliveries if d.recipient_id == "duty"]
    assert to_duty
    period_of = {escalation_id(silent_id, p): p for p in range(1, 10_000)}

    def all_in(rs: list[dict[str, Any]]) -> bool:
        escalated = {r["attempt"] for r in rs if r["status"] == "ESCALATED" and r["referral_id"] == silent_id}
        return all(period_of.get(d.idempotency_key) in escalated for d in to_duty)

    rs = await nt.receipts(all_in, timeout=180)
    assert all_in(rs), "an escalation reached the target without its ESCALATED receipt"
    by_referral: dict[str, list[int]] = {}
    for r in rs:
        if r["status"] == "ESCALATED":
            by_referral.setdefault(r["referral_id"], []).append(r["attempt"])
    for rid, periods in by_referral.items():
        # once per SLA period and referral, in order (a period may be skipped when a tick comes late)
        assert periods == sorted(set(periods)) and periods[0] >= 1, (rid, periods)
    assert by_referral[silent_id]
    # each escalation reached the target exactly once, and it is the escalation of that period
    keys = Counter(d.idempotency_key for d in to_duty)
    assert all(n == 1 for n in keys.values()), keys
    assert all(key in period_of for key in keys)
    first = min(to_duty, key=lambda d: period_of[d.idempotency_key])
    assert silent_id in first.json()["reason"]
    escalation = next(r for r in rs if r["status"] == "ESCALATED" and r["referral_id"] == silent_id)
    assert "duty" in (escalation["detail"] or "")
    # an escalation referral is delivered once (even though it may escalate on its own, under its own id)
    for key in keys:
        assert nt.statuses(rs, key).count("DELIVERED") <= 1
    return rs


async def test_acknowledgements_close_the_loop_and_silence_escalates(kafka: str, namespace: str) -> None:
    web = WebhookReceiver()
    recipients = [
        nt.recipient("acker", nt.webhook(web, "acker")),
        nt.recipient("topic-acker", nt.webhook(web, "topic-acker")),
        nt.recipient("silent", nt.webhook(web, "silent"), escalation_target="duty"),
        nt.recipient("duty", nt.webhook(web, "duty"), "full"),
    ]
    async with nt.notifier_stack(web, namespace, kafka, recipients, {}, prefix="notifier-acks-") as stack:
        stack.start()
        accepted = nt.referral("acker")
        rejected = nt.referral("acker")
        by_topic = nt.referral("topic-acker")
        silent = nt.referral("silent", sla=2, priority="P1")
        await nt.send_referrals([accepted, rejected, by_topic, silent])
        ids = [r["referral_id"] for r in (accepted, rejected, by_topic, silent)]
        rs = await nt.receipts(lambda rs: all("DELIVERED" in nt.statuses(rs, i) for i in ids), timeout=120)
        assert all("DELIVERED" in nt.statuses(rs, i) for i in ids), stack.workers.tail("notifier", 40)

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
            # another recipient's valid token: the same answer as for a referral that does not exist
            other = {"Authorization": f"Bearer {stack.token('topic-acker')}"}
            not_yours = await client.post(url, json=body, headers=other)
            nowhere = await client.post(missing, json=body, headers=other)
            assert not_yours.status_code == nowhere.status_code == 404
            assert not_yours.json() == nowhere.json()
            with_case = {**body, "case_id": accepted["case_id"]}
            not_yours = await client.post(url, json=with_case, headers=other)
            nowhere = await client.post(missing, json=with_case, headers=other)
            assert not_yours.status_code == nowhere.status_code == 202
            assert not_yours.json().keys() == nowhere.json().keys()
            # the right token, but a body over the limit or malformed
            mine = {"Authorization": f"Bearer {stack.token('acker')}"}
            big = await client.post(url, content=b"{" + b" " * 10_000 + b"}", headers=mine)
            assert big.status_code == 413
            assert (await client.post(url, json={"outcome": "MAYBE"}, headers=mine)).status_code == 400

        await assert_only_our_pages(stack.port, accepted["referral_id"])
        # nothing above changed anything
        rs = await nt.receipts(lambda rs: all("DELIVERED" in nt.statuses(rs, i) for i in ids), timeout=120)
        assert nt.statuses(rs, accepted["referral_id"]) == ["DELIVERED"]

        # by endpoint: accepted then completed; rejected with a reason
        token = stack.token("acker")
        assert await acknowledge(stack.port, accepted["referral_id"], token) == 202
        assert await acknowledge(stack.port, rejected["referral_id"], token, "REJECTED", reason="not ours") == 202
        # by topic: the recipient produces an Acknowledgement keyed by the case id
        ack = {
            "referral_id": by_topic["referral_id"],
            "recipient_id": "topic-acker",
            "outcome": "ACCEPTED",
            "reason": None,
            "acknowledged_at": int(time.time() * 1000),
        }
        await nt.produce(topics.ACKS, [(by_topic["case_id"].encode(), nt.CODEC.encode("Acknowledgement", ack))])

        def closed(rs: list[dict[str, Any]]) -> bool:
            return (
                "ACKNOWLEDGED" in nt.statuses(rs, accepted["referral_id"])
                and "REJECTED" in nt.statuses(rs, rejected["referral_id"])
                and "ACKNOWLEDGED" in nt.statuses(rs, by_topic["referral_id"])
                and "ESCALATED" in nt.statuses(rs, silent["referral_id"])
            )

        rs = await nt.receipts(closed, timeout=120)
        assert closed(rs), stack.workers.tail("notifier", 40)
        assert await acknowledge(stack.port, accepted["referral_id"], token, "COMPLETED") == 202
        rs = await nt.receipts(lambda rs: "COMPLETED" in nt.statuses(rs, accepted["referral_id"]), timeout=60)
        assert nt.statuses(rs, accepted["referral_id"]) == ["DELIVERED", "ACKNOWLEDGED", "COMPLETED"]
        reject = next(r for r in rs if r["status"] == "REJECTED")
        assert reject["detail"] == "not ours"
        # acknowledged referrals never escalate; the silent one escalated to its target
        for r in (accepted, rejected, by_topic):
            assert "ESCALATED" not in nt.statuses(rs, r["referral_id"])
        assert await wait_for(lambda: any(d.recipient_id == "duty" for d in web.deliveries), 120)
        rs = await assert_escalated_once_per_period(silent["referral_id"], web)
        for i in ids:
            assert nt.statuses(rs, i).count("DELIVERED") == 1, nt.statuses(rs, i)

        # the unacknowledged P1 is listed first by `referral-bus referrals pending`
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert await asyncio.to_thread(cli, ["referrals", "pending", "--json"]) == 0
        rows = json.loads(out.getvalue())
        listed = [row["referral_id"] for row in rows]
        assert listed[0] == silent["referral_id"] and rows[0]["priority"] == "P1" and rows[0]["overdue"]
        for r in (accepted, rejected, by_topic):
            assert r["referral_id"] not in listed
