"""kill -9 the notifier after it delivered but before it committed its offsets, restart it:
no referral is lost, and the receiver never sees a delivery under a different idempotency key."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from referral_devstack.receivers import WebhookReceiver
from tests.support.notifier import notifier_stack, receipts, recipient, referral, send_referrals, webhook
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


async def test_kill_between_delivery_and_commit_loses_nothing(kafka: str, namespace: str) -> None:
    web = WebhookReceiver()
    # commit offsets rarely, so the kill certainly comes after deliveries and before their commit
    rare_commits = {"NOTIFIER_BROKER_COMMIT_INTERVAL": "60", "NOTIFIER_BROKER_COMMIT_EVERY": "100000"}
    # the killed member stays in the consumer group until its session expires; keep that short
    # (Faust reads these) so the restarted worker is not kept waiting for a dead member
    fast_rejoin = {"BROKER_SESSION_TIMEOUT": "8", "BROKER_HEARTBEAT_INTERVAL": "1", "BROKER_REBALANCE_TIMEOUT": "15"}
    env = {**rare_commits, **fast_rejoin}
    recipients = [recipient("hook", webhook(web, "hook"))]
    async with notifier_stack(web, namespace, kafka, recipients, env, prefix="notifier-crash-") as stack:
        stack.start()
        refs = [referral("hook") for _ in range(30)]
        ids = {r["referral_id"] for r in refs}
        await send_referrals(refs)
        assert await wait_for(lambda: len(web.deliveries) >= 5, 60), stack.workers.tail("notifier")
        stack.workers.stop("notifier", sig=signal.SIGKILL)
        before = len(web.deliveries)

        stack.start()  # same namespace, same consumer group: replays from the last commit
        assert await wait_for(lambda: {d.idempotency_key for d in web.deliveries} >= ids, 120), (
            f"{len(ids - {d.idempotency_key for d in web.deliveries})} referral(s) lost\n"
            + stack.workers.tail("notifier")
        )

        def all_delivered(rs: list[dict[str, Any]]) -> bool:
            return {r["referral_id"] for r in rs if r["status"] == "DELIVERED"} >= ids

        rs = await receipts(all_delivered, timeout=60)
        assert all_delivered(rs)
        # every delivery carries its referral's id as idempotency key, and only our referrals
        for d in web.deliveries:
            assert d.idempotency_key == d.json()["referral_id"]
        assert {d.idempotency_key for d in web.deliveries} == ids
        duplicates = len(web.deliveries) - len(ids)
        print(f"delivered before kill: {before}; re-deliveries after restart (same key): {duplicates}")
