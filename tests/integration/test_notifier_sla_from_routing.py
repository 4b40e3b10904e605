"""The SLA clock from routing, over the real broker and a real notifier: a P1 whose recipient is down
(retrying) or refuses it for good (dead-lettered) escalates at its due time counted from routing, with the
metrics an alert reads; and acknowledgements that race their referral are never lost."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx
import pytest

from referral_bus import topics
from referral_bus.settings import KafkaSettings
from referral_devstack.reading import read_to_end, read_topic
from referral_devstack.receivers import WebhookReceiver, acknowledge
from services.notifier.sla import escalation_id
from tests.support import notifier as nt
from tests.support.metrics import metric
from tests.support.polling import poll

pytestmark = [pytest.mark.kafka]

MOVE_ROUNDS = 3  # rounds of the partition-move test before a machine counts as too slow for it
SLA = 6  # seconds: short, so the test waits for a few periods only
PARTNER = "intl-th-24-7"
# A recipient that is down is retried for as long as the test runs, its breaker opening and probing.
KEEP_TRYING = {
    "NOTIFIER_MAX_ATTEMPTS": "1000",
    "NOTIFIER_BACKOFF_BASE_SECONDS": "0.3",
    "NOTIFIER_BACKOFF_MAX_SECONDS": "1",
    "NOTIFIER_BREAKER_FAILURE_THRESHOLD": "3",
    "NOTIFIER_BREAKER_RESET_SECONDS": "1",
}


async def scrape(port: int, check: Any, timeout: float = 60) -> str:
    """The notifier's /metrics once `check(text)` holds (or the last text at the deadline)."""

    def once() -> str:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return ""

    return await poll(lambda: (t := once()) and check(t) and t, timeout, interval=0.5) or once()


async def test_a_p1_that_never_reaches_its_recipient_escalates_at_its_due_time_from_routing(
    kafka: str, namespace: str
) -> None:
    web = WebhookReceiver()
    # retried for ever / given up at once / retried, and its escalation to a police desk is refused
    web.behaviour.update({"down": lambda n: 503, "broken": lambda n: 400, "clinic": lambda n: 503})
    recipients = [
        nt.recipient("down", nt.webhook(web, "down"), escalation_target="duty"),
        nt.recipient("broken", nt.webhook(web, "broken"), escalation_target="duty"),
        nt.recipient("clinic", nt.webhook(web, "clinic"), kind="health", escalation_target="duty"),
        nt.recipient("duty", nt.webhook(web, "duty"), "full"),  # kind police
    ]
    env = {**KEEP_TRYING, "NOTIFIER_EARLY_ACK_LIMIT": "1", "NOTIFIER_EARLY_ACK_TTL_SECONDS": "2"}
    async with nt.notifier_stack(web, namespace, kafka, recipients, env, prefix="sla-routing-") as stack:
        stack.start()
        # acknowledgements of referrals that never come: one kept then expired, one past the limit at once
        never = [nt.referral("down"), nt.referral("down")]
        for r in never:
            assert await acknowledge(stack.port, r["referral_id"], stack.token("down"), case_id=r["case_id"]) == 202
        routed = int(time.time() * 1000) - 2_000  # routing made them 2 s ago: due SLA s after that, not later
        retrying = nt.referral("down", sla=SLA, priority="P1", created_at=routed)
        dead = nt.referral("broken", sla=SLA, priority="P1", created_at=routed)
        # an adult who refused consent but for health services: the safeguards keep her case from the police
        adult = nt.referral("clinic", sla=SLA, priority="P1", created_at=routed)
        adult["case"] = nt.adult_case(adult["case_id"], consent="REFUSED", consented_services=["health"])
        await nt.send_referrals([retrying, dead, adult])
        ids = (retrying["referral_id"], dead["referral_id"], adult["referral_id"])

        def escalated(rs: list[dict[str, Any]]) -> bool:
            return all("ESCALATED" in nt.statuses(rs, i) for i in ids)

        rs = await nt.receipts(escalated, timeout=120)
        assert escalated(rs), stack.workers.tail("notifier", 60)
        due = routed + SLA * 1000
        whys = {retrying["referral_id"]: "still being retried", dead["referral_id"]: "dead-lettered"}
        for rid in ids:
            statuses = nt.statuses(rs, rid)
            assert "DELIVERED" not in statuses and "FAILED" in statuses, statuses
            first = next(r for r in rs if r["referral_id"] == rid and r["status"] == "ESCALATED")
            assert first["attempt"] == 1
            # on time from routing: not before it was due, and not an SLA later
            assert due <= first["at"] < due + SLA * 1000, (first["at"] - due, rid)
            assert "of routing" in (first["detail"] or "")
            if rid in whys:
                assert whys[rid] in (first["detail"] or "") and "escalated to duty" in (first["detail"] or "")
        # each escalation reached the duty desk, through the safeguards gate, under its deterministic id
        wanted = {escalation_id(i, 1) for i in ids[:2]}
        assert await poll(lambda: wanted <= {d.idempotency_key for d in web.deliveries}, 60)
        # the gate refused the adult's escalation to the police desk: recorded, not sent, not dropped
        refusal = [r for r in rs if r["referral_id"] == escalation_id(adult["referral_id"], 1)]
        assert [r["status"] for r in refusal] == ["REFUSED"] and refusal[0]["recipient_id"] == "duty"
        assert "adult-without-consent-no-police" in (refusal[0]["detail"] or "")
        adult_escalated = next(r for r in rs if r["referral_id"] == adult["referral_id"] and r["status"] == "ESCALATED")
        assert "refused by the safeguards" in (adult_escalated["detail"] or "")
        assert not [d for d in web.deliveries if d.idempotency_key == escalation_id(adult["referral_id"], 1)]
        # what an alert reads: escalations of P1 counted, and P1 referrals not delivered past their SLA
        text = await scrape(
            stack.port,
            lambda t: (
                metric(t, "referral_bus_pending_referrals_overdue", priority="P1", state="undelivered") >= 2
                and metric(t, "referral_bus_sla_breaches_total", priority="P1", recipient_id="down") >= 1
                and metric(t, "referral_bus_sla_breaches_total", priority="P1", recipient_id="broken") >= 1
            ),
        )
        assert metric(text, "referral_bus_pending_referrals_overdue", priority="P1", state="undelivered") >= 2, text

        # neither early acknowledgement was dropped: both are dead letters with their bytes, saying why
        def both(recs: list[Any]) -> bool:
            return all(any(r["referral_id"].encode() in rec.value for rec in recs) for r in never)

        raw = await read_topic(topics.name(topics.DEADLETTER), until=both, timeout=60)
        letters = {d["referral_id"]: d for d in (nt.CODEC.decode(rec.value, "DeadLetter") for rec in raw)}
        messages = sorted(letters[r["referral_id"]]["message"] for r in never)
        assert "NOTIFIER_EARLY_ACK_LIMIT" in messages[0] + messages[1], messages
        assert "NOTIFIER_EARLY_ACK_TTL_SECONDS" in messages[0] + messages[1], messages
        assert all(letters[r["referral_id"]]["reason"] == "invalid_ack" for r in never)
        assert all(letters[r["referral_id"]]["source_topic"].endswith(topics.ACKS) for r in never)


async def test_acknowledgements_that_race_their_referral_are_applied_and_stop_escalation(
    kafka: str, namespace: str
) -> None:
    web = WebhookReceiver()
    recipients = [
        nt.recipient("acker", nt.webhook(web, "acker"), escalation_target="duty"),
        nt.recipient("other", nt.webhook(web, "other")),
        nt.recipient("duty", nt.webhook(web, "duty"), "full"),
        # acknowledges over Kafka on its own topic (config/agencies.yaml: agency intl-th-24-7 acts for it)
        nt.recipient(PARTNER, {"type": "kafka"}, "convention_minimal"),
    ]
    async with nt.notifier_stack(web, namespace, kafka, recipients, {}, prefix="sla-acks-race-") as stack:
        stack.start()
        by_http = nt.referral("acker", sla=SLA, priority="P1")  # acknowledged over HTTP before it is routed
        by_topic = nt.referral("acker", sla=SLA, priority="P1")  # acknowledged on the acks topic before
        together = [nt.referral("acker", sla=SLA, priority="P1") for _ in range(6)]  # while being routed
        spoofed = nt.referral("acker", sla=SLA, priority="P1")  # another recipient "acknowledges" it first
        silent = nt.referral("acker", sla=SLA, priority="P1")  # nobody acknowledges: it must escalate
        partner = nt.referral(PARTNER, sla=SLA, priority="P1")  # acknowledged on its own ack topic before
        token = stack.token("acker")
        # 1. before: the endpoint takes it with case_id (202) and keeps it until the referral comes
        assert await acknowledge(stack.port, by_http["referral_id"], token, case_id=by_http["case_id"]) == 202
        other = stack.token("other")
        assert await acknowledge(stack.port, spoofed["referral_id"], other, case_id=spoofed["case_id"]) == 202
        # without case_id the endpoint cannot know the referral's partition yet: 404, the recipient retries
        assert await acknowledge(stack.port, silent["referral_id"], token) == 404

        def ack(r: dict[str, Any], outcome: str = "ACCEPTED") -> tuple[bytes, bytes]:
            record = {
                "referral_id": r["referral_id"],
                "recipient_id": r["recipient_id"],
                "outcome": outcome,
                "reason": None,
                "acknowledged_at": int(time.time() * 1000),
            }
            return r["case_id"].encode(), nt.CODEC.encode("Acknowledgement", record)

        await nt.produce(topics.ACKS, [ack(by_topic), ack(by_topic, "COMPLETED")])
        await nt.produce(topics.acks_topic(PARTNER), [ack(partner)])
        # 2. while: acknowledgements and referrals produced at the same time, in either order
        await asyncio.gather(
            nt.produce(topics.ACKS, [ack(r) for r in together]),
            nt.send_referrals(together[::-1]),
        )
        await nt.send_referrals([by_http, by_topic, spoofed, silent, partner])
        acked = [by_http, by_topic, partner, *together]

        def settled(rs: list[dict[str, Any]]) -> bool:
            return (
                all("ACKNOWLEDGED" in nt.statuses(rs, r["referral_id"]) for r in acked)
                and "COMPLETED" in nt.statuses(rs, by_topic["referral_id"])
                and "ESCALATED" in nt.statuses(rs, silent["referral_id"])
                and "ESCALATED" in nt.statuses(rs, spoofed["referral_id"])
            )

        rs = await nt.receipts(settled, timeout=120)
        assert settled(rs), stack.workers.tail("notifier", 60)
        # wait two more SLA periods past the last due time, then judge: acknowledged ones never escalated
        latest = max(r["created_at"] for r in acked) + 3 * SLA * 1000
        await asyncio.sleep(max(0.0, latest / 1000 - time.time()))
        records = await read_to_end(KafkaSettings(), topics.name(topics.RECEIPTS), timeout=60)
        rs = [nt.CODEC.decode(r.value, "DeliveryReceipt") for r in records]
        for r in acked:
            statuses = nt.statuses(rs, r["referral_id"])
            assert "ESCALATED" not in statuses and statuses.count("DELIVERED") == 1, statuses
        assert nt.statuses(rs, by_topic["referral_id"]).count("COMPLETED") == 1
        assert not {escalation_id(r["referral_id"], 1) for r in acked} & {d.idempotency_key for d in web.deliveries}
        # the path under test was taken: acknowledgements produced seconds before their referral were kept
        log = stack.workers.log_path("notifier").read_text(errors="replace")
        kept = [line for line in log.splitlines() if "acknowledgement kept until its referral arrives" in line]
        assert any(r["referral_id"] in line for line in kept for r in (by_http, by_topic, partner, spoofed)), kept
        # the other recipient's early "acknowledgement" changed nothing and is dead-lettered with its bytes
        assert "ACKNOWLEDGED" not in nt.statuses(rs, spoofed["referral_id"])
        dead = await read_topic(
            topics.name(topics.DEADLETTER),
            until=lambda recs: any(spoofed["referral_id"].encode() in r.value for r in recs),
            timeout=60,
        )
        letters = [nt.CODEC.decode(r.value, "DeadLetter") for r in dead]
        spoof = [d for d in letters if d["referral_id"] == spoofed["referral_id"]]
        assert spoof and spoof[0]["reason"] == "invalid_ack" and spoof[0]["source_topic"].endswith(topics.ACKS)


async def _tried_by_both(stack: nt.NotifierStack, sla: int) -> tuple[list[dict[str, Any]], bool]:
    """Eight P1 referrals with an `sla`, each tried once (and failed); and whether the second worker
    `notifier-1` tried some of them (murmur2 may put all eight in the first worker's partitions)."""
    refs = [nt.referral("down", sla=sla, priority="P1") for _ in range(8)]
    await nt.send_referrals(refs)
    ids = [r["referral_id"] for r in refs]

    def leaving_had_some() -> bool:
        log = stack.workers.log_path("notifier-1").read_text(errors="replace")
        return any(i in log for i in ids)

    rs = await nt.receipts(lambda rs: all("FAILED" in nt.statuses(rs, i) for i in ids), timeout=120)
    assert all("FAILED" in nt.statuses(rs, i) for i in ids), stack.workers.tail("notifier", 40)
    return refs, await poll(leaving_had_some, 30)


@pytest.mark.timeout(1200)  # a round that cannot test the move is followed by one with a longer SLA
async def test_the_sla_index_is_rebuilt_when_partitions_move_to_another_worker(kafka: str, namespace: str) -> None:
    """Two notifiers share the partitions; one leaves before the referrals fall due. The other recovers
    their state from the changelog, rebuilds its index on the new assignment and escalates each on time.
    A round proves nothing when the second worker has not left (stopped, waited for) before the referrals
    fall due, e.g. on a loaded machine, or held none of them: it is followed by one with fresh referrals, the
    second worker started again and an SLA of three times the time the round took."""
    web = WebhookReceiver()
    web.behaviour["down"] = lambda n: 503
    recipients = [
        nt.recipient("down", nt.webhook(web, "down"), escalation_target="duty"),
        nt.recipient("duty", nt.webhook(web, "duty"), "full"),
    ]
    sla = 25
    async with nt.notifier_stack(web, namespace, kafka, recipients, KEEP_TRYING, prefix="sla-rebalance-") as stack:
        stack.workers.start("notifier")
        log = stack.workers.log_path("notifier")
        for _ in range(MOVE_ROUNDS):
            stack.workers.start("notifier", replica=1)
            # in threads: the webhook receiver runs on this event loop and keeps answering both workers meanwhile
            await asyncio.to_thread(stack.workers.wait_ready, timeout=180, names=["notifier", "notifier-1"])
            refs, held = await _tried_by_both(stack, sla)
            moved_at = log.stat().st_size
            await asyncio.to_thread(stack.workers.stop, "notifier-1")  # SIGTERM, and wait until it has left
            took = time.time() - min(r["created_at"] for r in refs) / 1000  # the SLA clock at the move
            if held and took < sla:
                break
            sla = max(sla, math.ceil(3 * took))  # this round proves nothing: again, with time to spare
        else:
            pytest.fail(f"could not move referrals before their SLA in {MOVE_ROUNDS} rounds (too slow, or none moved)")
        ids = [r["referral_id"] for r in refs]

        def escalated(rs: list[dict[str, Any]]) -> bool:
            return all("ESCALATED" in nt.statuses(rs, i) for i in ids)

        rs = await nt.receipts(escalated, timeout=180 + sla)
        assert escalated(rs), stack.workers.tail("notifier", 60)
        for r in refs:
            first = [x for x in rs if x["referral_id"] == r["referral_id"] and x["status"] == "ESCALATED"]
            due = r["created_at"] + sla * 1000
            assert first[0]["attempt"] == 1 and due <= first[0]["at"] < due + sla * 1000, first[0]["at"] - due
            assert [x["attempt"] for x in first] == sorted({x["attempt"] for x in first})  # never twice a period
        # the remaining worker rebuilt its index after the move, for every partition
        with log.open("rb") as f:
            f.seek(moved_at)
            after = f.read().decode(errors="replace")
        rebuilt = [line for line in after.splitlines() if "SLA index rebuilt" in line]
        everything = f'"partitions": {KafkaSettings().topic_partitions}'
        assert any(everything in line for line in rebuilt), rebuilt


async def test_a_kept_acknowledgement_and_the_sla_clock_survive_a_restart(kafka: str, namespace: str) -> None:
    """An acknowledgement kept for a referral not seen yet is in the changelog, not only in memory: after a
    restart it is applied when the referral comes. A referral taken before the restart and never delivered
    escalates on time from routing after it (the index is rebuilt from the recovered table)."""
    web = WebhookReceiver()
    web.behaviour["down"] = lambda n: 503
    recipients = [
        nt.recipient("acker", nt.webhook(web, "acker"), escalation_target="duty"),
        nt.recipient("down", nt.webhook(web, "down"), escalation_target="duty"),
        nt.recipient("duty", nt.webhook(web, "duty"), "full"),
    ]
    sla = 20
    async with nt.notifier_stack(web, namespace, kafka, recipients, KEEP_TRYING, prefix="sla-restart-") as stack:
        stack.start()
        early = nt.referral("acker", sla=sla, priority="P1")
        stuck = nt.referral("down", sla=sla, priority="P1")
        token = stack.token("acker")
        assert await acknowledge(stack.port, early["referral_id"], token, case_id=early["case_id"]) == 202
        await nt.send_referrals([stuck])

        def kept_and_tried() -> bool:
            log = stack.workers.log_path("notifier").read_text(errors="replace")
            return f'"referral_id": "{early["referral_id"]}"' in log and stuck["referral_id"] in log

        assert await poll(kept_and_tried, 60), stack.workers.tail("notifier", 40)
        stack.workers.stop("notifier")
        stack.start()
        await nt.send_referrals([early])

        def settled(rs: list[dict[str, Any]]) -> bool:
            return "ACKNOWLEDGED" in nt.statuses(rs, early["referral_id"]) and "ESCALATED" in nt.statuses(
                rs, stuck["referral_id"]
            )

        rs = await nt.receipts(settled, timeout=150)
        assert settled(rs), stack.workers.tail("notifier", 60)
        # kept once, before the restart: what applied it afterwards was the table recovered from its changelog
        log = stack.workers.log_path("notifier").read_text(errors="replace").splitlines()
        kept = [line for line in log if "acknowledgement kept" in line and early["referral_id"] in line]
        assert len(kept) == 1, kept
        first = next(r for r in rs if r["referral_id"] == stuck["referral_id"] and r["status"] == "ESCALATED")
        due = stuck["created_at"] + sla * 1000
        assert first["attempt"] == 1 and due <= first["at"] < due + sla * 1000, first["at"] - due
        await asyncio.sleep(max(0.0, (early["created_at"] + 2 * sla * 1000) / 1000 - time.time()))
        records = await read_to_end(KafkaSettings(), topics.name(topics.RECEIPTS), timeout=60)
        rs = [nt.CODEC.decode(r.value, "DeliveryReceipt") for r in records]
        assert "ESCALATED" not in nt.statuses(rs, early["referral_id"]), nt.statuses(rs, early["referral_id"])


async def test_an_acknowledgement_receipt_is_timed_from_routing_under_the_referral_s_own_sla(
    kafka: str, namespace: str
) -> None:
    web = WebhookReceiver()
    recipients = [nt.recipient("acker", nt.webhook(web, "acker"))]
    async with nt.notifier_stack(web, namespace, kafka, recipients, {}, prefix="sla-ack-clock-") as stack:
        stack.start()
        routed = int(time.time() * 1000) - 30_000  # routing made it 30 s before the notifier delivers it
        raised = nt.referral("acker", sla=20, priority="P1", created_at=routed)  # its own (raised) 20 s SLA
        await nt.send_referrals([raised])
        rid = raised["referral_id"]
        rs = await nt.receipts(lambda rs: "DELIVERED" in nt.statuses(rs, rid), timeout=120)
        assert "DELIVERED" in nt.statuses(rs, rid), stack.workers.tail("notifier", 40)
        assert await acknowledge(stack.port, rid, stack.token("acker")) == 202
        rs = await nt.receipts(lambda rs: "ACKNOWLEDGED" in nt.statuses(rs, rid), timeout=120)
        acked = next(r for r in rs if r["referral_id"] == rid and r["status"] == "ACKNOWLEDGED")
        # delivered within a second or so, acknowledged at once: the delivery latency says "on time",
        # the SLA clock from routing says 30 s against its own 20 s: late
        assert acked["ack_sla_seconds"] == 20
        assert acked["since_routing_ms"] >= 30_000
        assert acked["latency_ms"] < 30_000
