"""A real notifier worker: a FAILED receipt for every referral given up (here by the retry-age limit), and
circuit breakers that survive a restart (changelogged per recipient), over the real broker."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from referral_bus import topics
from referral_devstack.reading import read_topic
from referral_devstack.receivers import WebhookReceiver
from tests.support import notifier as nt

pytestmark = [pytest.mark.kafka]


_failed: dict[str, int] = {"down": 0, "gone": 0}  # attempts each failing recipient has answered


async def test_give_up_receipt_and_breaker_remembered_across_a_restart(kafka: str, namespace: str) -> None:
    web = WebhookReceiver()
    counters = {"down": itertools.count(1), "gone": itertools.count(1)}

    def failing(name: str) -> Any:
        def behaviour(n: int) -> int:
            _failed[name] = next(counters[name])
            return 503

        return behaviour

    web.behaviour.update({"down": failing("down"), "gone": failing("gone")})
    env = {
        "NOTIFIER_MAX_ATTEMPTS": "10",
        "NOTIFIER_BACKOFF_BASE_SECONDS": "0.2",
        "NOTIFIER_BACKOFF_MAX_SECONDS": "0.5",
        "NOTIFIER_BREAKER_FAILURE_THRESHOLD": "2",
        "NOTIFIER_BREAKER_RESET_SECONDS": "600",
        "NOTIFIER_MAX_RETRY_AGE_SECONDS": "900",
    }
    recipients = [nt.recipient(n, nt.webhook(web, n)) for n in ("ok", "down", "gone")]
    async with nt.notifier_stack(web, namespace, kafka, recipients, env, prefix="give-up-") as stack:
        stack.start()
        # routed an hour ago: the first failure's retry would fall past the 900 s age limit (its SLA of two
        # hours, counted from routing, is not over: this test is about the give-up, not the escalation)
        old = nt.referral("gone", sla=7200, created_at=int(time.time() * 1000) - 3_600_000)
        down = [nt.referral("down"), nt.referral("down")]
        await nt.send_referrals([old, *down])

        def paused_and_given_up(rs: list[dict[str, Any]]) -> bool:
            paused = any(r["recipient_id"] == "down" and r["status"] == "PAUSED" for r in rs)
            return paused and "FAILED" in nt.statuses(rs, old["referral_id"])

        rs = await nt.receipts(paused_and_given_up, timeout=120)
        assert paused_and_given_up(rs), stack.workers.tail("notifier", 60)
        # the age limit refused the retry: one FAILED receipt saying so, and the dead letter
        gone = [r for r in rs if r["referral_id"] == old["referral_id"]]
        assert [r["status"] for r in gone] == ["FAILED"]
        assert "given up and dead-lettered: not delivered within 900s of routing" in (gone[0]["detail"] or "")
        dead = await read_topic(
            topics.name(topics.DEADLETTER),
            until=lambda recs: any(old["referral_id"].encode() in r.value for r in recs),
            timeout=60,
        )
        letters = [nt.CODEC.decode(r.value, "DeadLetter") for r in dead]
        assert any("not delivered within 900s" in d["message"] for d in letters), letters

        # restart the worker: its breaker for "down" must still be open
        calls_before = _failed["down"]
        assert calls_before == 2
        stack.workers.stop("notifier")
        stack.start()
        fresh, healthy = nt.referral("down"), nt.referral("ok")
        await nt.send_referrals([fresh, healthy])

        def deferred(rs: list[dict[str, Any]]) -> bool:
            return "DELIVERED" in nt.statuses(rs, healthy["referral_id"]) and any(
                r["referral_id"] == fresh["referral_id"]
                and r["status"] == "QUEUED"
                and "paused by its circuit breaker" in (r["detail"] or "")
                for r in rs
            )

        rs = await nt.receipts(deferred, timeout=120)
        assert deferred(rs), stack.workers.tail("notifier", 60)
        assert "FAILED" not in nt.statuses(rs, fresh["referral_id"])
        assert _failed["down"] == calls_before  # the restarted worker did not probe the down recipient
