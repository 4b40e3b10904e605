"""Priority lanes through the real broker: a P1 referral does not wait behind a P4 backlog.

Thousands of P4 referrals wait on the standard lane for a slow recipient; P1 referrals produced to the
urgent lane afterwards are delivered long before the backlog is through (asserted by order of arrival,
not by time). Across lanes a P1 update of a case overtakes its P4 original, and both are delivered once;
an SLA escalation of a P1 referral travels in the urgent lane (docs/architecture.md, "Priority lanes").
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from referral_bus import topics
from referral_devstack.reading import read_topic
from referral_devstack.receivers import WebhookReceiver
from tests.support import notifier as nt
from tests.support.polling import wait_for

pytestmark = pytest.mark.kafka

BACKLOG = 5_000  # more than a stream buffer (STREAM_BUFFER_MAXSIZE 4096): Faust's flow control is in play
SLOW_SECONDS = 0.2  # with 4 slots: about 20 backlog deliveries a second


async def test_p1_overtakes_a_p4_backlog_and_keeps_every_promise(kafka: str, namespace: str) -> None:
    web = WebhookReceiver(slow_seconds={"slow": SLOW_SECONDS})
    recipients = [
        nt.recipient("slow", nt.webhook(web, "slow"), escalation_target="duty"),
        nt.recipient("duty", nt.webhook(web, "duty"), "full"),
    ]
    template = nt.referral("slow", priority="P4")
    backlog = [nt.referral_like(template, "slow", "P4") for _ in range(BACKLOG - 1)]
    original = nt.referral_like(template, "slow", "P4")  # case X's first referral, last in line
    backlog.append(original)
    env = {"NOTIFIER_DELIVERY_CONCURRENCY": "4"}
    async with nt.notifier_stack(web, namespace, kafka, recipients, env, prefix="notifier-lanes-") as stack:
        await nt.produce_batch(topics.REFERRALS, nt.referral_records(backlog))  # waiting before the notifier starts
        stack.start()
        assert await wait_for(lambda: len(web.deliveries) >= 40, 120), stack.workers.tail("notifier", 40)

        urgent = [nt.referral_like(template, "slow", "P1") for _ in range(5)]
        # the same case and recipient as the P4 original: a linked report that raised the case to P1
        update = {
            **nt.referral_like(template, "slow", "P1"),
            "case_id": original["case_id"],
            "case": original["case"],
            "link": {
                "case_id": original["case_id"],
                "agency_id": "other-agency",
                "report_id": "R-LINKED-1",
                "matched_on": "hash",
                "update": True,
                "update_of": original["referral_id"],
                "raised_from": "P4",
            },
        }
        overdue = nt.referral_like(template, "slow", "P1", ack_sla_seconds=1, created_at=int(time.time() * 1000))
        firsts = [*urgent, update, overdue]
        await nt.produce_batch(topics.REFERRALS_URGENT, nt.referral_records(firsts))

        def arrived() -> list[str]:
            return [d.idempotency_key for d in web.deliveries]

        def escalations(records: list[Any]) -> list[str]:
            """Ids of the escalations of `overdue` among referrals records."""
            refs = [nt.CODEC.decode(r.value, "Referral") for r in records]
            return [
                r["referral_id"] for r in refs if overdue["referral_id"] in r["reason"] and r["recipient_id"] == "duty"
            ]

        # the escalation of a P1 referral goes to the urgent lane, like its original
        on_urgent = await read_topic(
            topics.name(topics.REFERRALS_URGENT), until=lambda rs: bool(escalations(rs)), timeout=120
        )
        assert escalations(on_urgent), stack.workers.tail("notifier", 40)
        wanted = {r["referral_id"] for r in firsts} | {escalations(on_urgent)[0]}
        assert await wait_for(lambda: wanted <= set(arrived()), 120), (
            wanted - set(arrived()),
            stack.workers.tail("notifier", 40),
        )
        order = arrived()
        last_urgent = max(order.index(rid) for rid in wanted)
        # every P1 (and the escalation) came while most of the backlog was still waiting
        assert last_urgent < BACKLOG // 2, (last_urgent, len(order))
        assert original["referral_id"] not in order  # the update overtook its original, on purpose

        # the recipient speeds up: the backlog drains, every referral delivered exactly once
        web.slow_seconds["slow"] = 0
        everything = {r["referral_id"] for r in backlog} | wanted
        assert await wait_for(lambda: everything <= set(arrived()), 300), (
            len(set(arrived())),
            stack.workers.tail("notifier", 40),
        )
        counts = Counter(arrived())
        assert {rid: n for rid, n in counts.items() if n > 1} == {}
        order = arrived()
        assert order.index(update["referral_id"]) < order.index(original["referral_id"])

        # both referrals of case X have their own DELIVERED receipt (state per referral id, whichever lane)
        both = (original["referral_id"], update["referral_id"])
        rs = await nt.receipts(lambda rs: all("DELIVERED" in nt.statuses(rs, i) for i in both), timeout=120)
        assert all(nt.statuses(rs, i).count("DELIVERED") == 1 for i in both)
