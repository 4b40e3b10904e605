"""The delivered-once mark lives in the referral's state entry: one changelog record, read back after a restart.

A real notifier worker on the local broker delivers a referral: its `referral_state` changelog holds ONE
record for it, carrying the mark, and the former `deliveries` changelog none. The worker is replaced;
the same referral produced again (a replay) is not delivered a second time by the new worker, which
knows the mark only from the `referral_state` changelog.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from referral_devstack.receivers import WebhookReceiver
from services.notifier.delivered import MARK
from tests.support import notifier as nt
from tests.support.changelogs import changelog_records, table_key

pytestmark = [pytest.mark.kafka]


async def test_the_mark_rides_in_the_state_record_and_a_restarted_worker_does_not_deliver_again(
    kafka: str, namespace: str
) -> None:
    web = WebhookReceiver()
    env = {"NOTIFIER_DELIVERY_CONCURRENCY": "1"}  # in order on the partition: the replay before the next one
    recipients = [nt.recipient("ok", nt.webhook(web, "ok"))]
    async with nt.notifier_stack(web, namespace, kafka, recipients, env, prefix="mark-") as stack:
        stack.start()
        first = nt.referral("ok")
        await nt.send_referrals([first])
        rs = await nt.receipts(lambda rs: "DELIVERED" in nt.statuses(rs, first["referral_id"]), timeout=90)
        assert "DELIVERED" in nt.statuses(rs, first["referral_id"]), stack.workers.tail("notifier", 40)
        stack.workers.stop("notifier")

        state = [r for r in await changelog_records(kafka, "notifier", "referral_state")]
        mine = [json.loads(r.value) for r in state if table_key(r.key) == first["referral_id"]]
        assert len(mine) == 1, "one state record for the delivered referral (the mark in it)"
        assert mine[0]["status"] == "DELIVERED" and isinstance(mine[0][MARK], int), mine[0]
        assert await changelog_records(kafka, "notifier", "deliveries") == [], "no record of its own"

        stack.start()  # a new worker: the state from its changelog
        later = nt.referral_of(first["case"], "ok", sla=3600, priority="P2")  # same case: same partition, after it
        await nt.send_referrals([first, later])  # the first again: a replay

        def later_delivered(rs: list[dict[str, Any]]) -> bool:
            return "DELIVERED" in nt.statuses(rs, later["referral_id"])

        rs = await nt.receipts(later_delivered, timeout=90)
        assert later_delivered(rs), stack.workers.tail("notifier", 40)
    assert [d.idempotency_key for d in web.deliveries].count(first["referral_id"]) == 1, "delivered once"
    assert nt.statuses(rs, first["referral_id"]) == ["DELIVERED"], "the replay emitted nothing"
