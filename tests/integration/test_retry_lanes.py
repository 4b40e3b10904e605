"""Retry lanes through the real broker: a P1 retry does not wait behind a P4 retry backlog.

A thousand due P4 retries wait on the standard lane's retry topic for a slow recipient. Then a P1
referral whose first attempt fails is retried through the urgent lane's retry topic, and a P1 retry
not due yet is parked and released to that topic when due; both are delivered while at least 500 P4
retries still wait (asserted by order of arrival, not by time). Neither ever travels on the standard
lane's retry topic. With one retry topic for every priority (point the urgent lane's `retry` at
`topics.RETRY` in topic_catalog.LANES), the P1 retries come after most of the backlog and this fails
(bench/results/notif.md, "Retry lanes").
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from referral_bus import topics
from referral_bus.topic_catalog import lane_of
from referral_devstack.reading import read_topic
from referral_devstack.receivers import WebhookReceiver
from tests.support import notifier as nt
from tests.support.intake import read_all
from tests.support.polling import wait_for

pytestmark = pytest.mark.kafka

BACKLOG = 1_000  # due P4 retries
STILL_WAITING = 500  # at least this many of them not delivered yet when both P1 retries are
SLOW_SECONDS = 0.2  # with 4 slots: about 20 backlog deliveries a second


def _ids_on(records: list[Any]) -> list[str]:
    return [nt.CODEC.decode(r.value, "Referral")["referral_id"] for r in records]


async def test_a_p1_retry_overtakes_hundreds_of_p4_retries(kafka: str, namespace: str) -> None:
    web = WebhookReceiver(slow_seconds={"slow": SLOW_SECONDS}, behaviour={"flaky": lambda n: 503 if n == 1 else 200})
    recipients = [nt.recipient(r, nt.webhook(web, r)) for r in ("slow", "flaky", "fast")]
    template = nt.referral("slow", priority="P4")
    # due retries of a slow recipient (a failed first attempt each), waiting before the notifier starts
    backlog = [
        nt.referral_like(template, "slow", "P4", attempt=1, last_error="webhook answered HTTP 503")
        for _ in range(BACKLOG)
    ]
    env = {"NOTIFIER_DELIVERY_CONCURRENCY": "4", "NOTIFIER_BACKOFF_BASE_SECONDS": "0.5"}
    async with nt.notifier_stack(web, namespace, kafka, recipients, env, prefix="notifier-retry-lanes-") as stack:
        await nt.produce_batch(lane_of("P4").retry, nt.referral_records(backlog))
        stack.start()
        assert await wait_for(lambda: len(web.deliveries) >= 40, 120), stack.workers.tail("notifier", 40)

        failing = nt.referral_like(template, "flaky", "P1")  # its first attempt fails: retried through its lane
        parked = nt.referral_like(template, "fast", "P1", attempt=1, not_before=int(time.time() * 1000) + 2_000)
        await nt.produce_batch(lane_of("P1").topic, nt.referral_records([failing]))
        await nt.produce_batch(lane_of("P1").retry, nt.referral_records([parked]))  # not due yet: parked, then released
        urgent = {failing["referral_id"], parked["referral_id"]}

        def arrived() -> list[str]:
            return [d.idempotency_key for d in web.deliveries]

        assert await wait_for(lambda: urgent <= set(arrived()), 120), stack.workers.tail("notifier", 40)
        order = arrived()
        p4_before = sum(1 for rid in order[: max(order.index(rid) for rid in urgent)] if rid not in urgent)
        assert BACKLOG - p4_before >= STILL_WAITING, (p4_before, len(order))

        # both P1 retries travelled on the urgent retry lane only: the failed one requeued, the parked one released
        on_urgent = await read_topic(
            topics.name(lane_of("P1").retry),
            until=lambda rs: Counter(_ids_on(rs))[parked["referral_id"]] >= 2 and failing["referral_id"] in _ids_on(rs),
            timeout=60,
        )
        assert Counter(_ids_on(on_urgent))[parked["referral_id"]] >= 2, _ids_on(on_urgent)
        assert failing["referral_id"] in _ids_on(on_urgent)

        # the recipient speeds up: the backlog drains, every referral delivered exactly once
        web.slow_seconds["slow"] = 0
        everything = {r["referral_id"] for r in backlog} | urgent
        assert await wait_for(lambda: everything <= set(arrived()), 300), (
            len(set(arrived())),
            stack.workers.tail("notifier", 40),
        )
        assert {rid: n for rid, n in Counter(arrived()).items() if n > 1} == {}
        on_standard = await read_all(topics.name(lane_of("P4").retry), kafka)
        assert len(on_standard) == BACKLOG and not urgent & set(_ids_on(on_standard))
