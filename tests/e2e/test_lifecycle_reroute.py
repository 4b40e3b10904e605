"""The referral lifecycle through the real broker and the three workers: decline → re-route → accept →
in progress → complete, with the reporting agency's status topic carrying each step, and an illegal
action refused (dead-lettered, never applied)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_cli.main import main as cli
from referral_devstack.agencies import local_agencies
from referral_devstack.reading import read_topic
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from referral_devstack.workers import Workers, temp_workdir
from tests.support import notifier as nt
from tests.support.polling import wait_for
from tests.support.reports import PII, key_of, now_ms, valid_report

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

AGENCY = "vn-hotline-111"
CODEC = Codec()


def ack(referral_id: str, recipient_id: str, outcome: str, **fields: Any) -> dict[str, Any]:
    return {
        "referral_id": referral_id,
        "recipient_id": recipient_id,
        "outcome": outcome,
        "reason": None,
        "acknowledged_at": now_ms(),
        "action_id": str(uuid.uuid4()),
        **fields,
    }


async def send_acks(case_id: str, *acks: dict[str, Any]) -> None:
    """Acknowledgements on the shared acks topic keyed by case_id, as the ack endpoint and the inbox write them."""
    await nt.produce(topics.ACKS, [(case_id.encode(), CODEC.encode("Acknowledgement", a)) for a in acks])


async def agency_status(until: Any, timeout: float = 60) -> list[dict[str, Any]]:
    records = await read_topic(
        topics.name(topics.status_topic(AGENCY)),
        until=lambda rs: until([CODEC.decode(r.value, "ReportStatus") for r in rs]),
        timeout=timeout,
    )
    return [CODEC.decode(r.value, "ReportStatus") for r in records]


async def purposes(*referral_ids: str, timeout: float = 60) -> dict[str, str]:
    """The Disclosure purpose of each referral's delivery, once all are on referrals.disclosures.v1."""

    def found(rs: Any) -> dict[str, str]:
        return {d["referral_id"]: d["purpose"] for d in (CODEC.decode(r.value, "Disclosure") for r in rs)}

    records = await read_topic(
        topics.name(topics.DISCLOSURES), until=lambda rs: set(referral_ids) <= set(found(rs)), timeout=timeout
    )
    return {rid: p for rid, p in found(records).items() if rid in referral_ids}


@contextlib.asynccontextmanager
async def three_workers(kafka: str, namespace: str) -> AsyncIterator[tuple[WebhookReceiver, Workers]]:
    """Intake, routing and notifier on the real broker, with the local agencies' receivers; all stopped after."""
    web, mail = WebhookReceiver(), MailReceiver()
    await web.start()
    mail.start()
    try:
        with temp_workdir("lifecycle-") as work:
            _, env = local_agencies(work, web, mail)
            workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka, **env})
            try:
                workers.start_all()
                workers.wait_ready()
                yield web, workers
            finally:
                workers.stop_all()
    finally:
        await web.stop()
        mail.stop()


async def test_decline_reroute_accept_complete_with_the_agency_told_each_step(kafka: str, namespace: str) -> None:
    # a child's case that is not CSAM: provincial police and child protection, the hotline, a foreign partner
    report = valid_report(agency_id=AGENCY, category="OTHER", severity="MEDIUM", content_hashes=[], content_urls=[])
    async with three_workers(kafka, namespace) as (web, workers):
        intake = topics.intake_topic(AGENCY)
        bad = valid_report(agency_id=AGENCY, victim__jurisdiction="XX-NOPE")  # intake rejects it
        await nt.produce(
            intake,
            [(key_of(report), CODEC.encode("CaseReport", report)), (key_of(bad), CODEC.encode("CaseReport", bad))],
        )

        def delivered_to(recipient_id: str) -> dict[str, Any] | None:
            found = [d.json() for d in web.deliveries if d.recipient_id == recipient_id]
            return found[0] if found else None

        assert await wait_for(lambda: delivered_to("vn-police-ha-noi") is not None, 90), workers.tail("notifier")
        first = delivered_to("vn-police-ha-noi")
        assert first is not None
        case_id, declined_id = first["case_id"], first["referral_id"]
        assert delivered_to("vn-police-cybercrime") is None

        # the provincial police declines: the case goes on to the national unit of the same kind
        decline = ack(declined_id, "vn-police-ha-noi", "DECLINED", reason_code="not_our_jurisdiction")
        decline["note"] = PII["victim_name"]  # free text is personal data: it must go nowhere
        await send_acks(case_id, decline)
        assert await wait_for(lambda: delivered_to("vn-police-cybercrime") is not None, 60), (
            workers.tail("routing") + "\n" + workers.tail("notifier")
        )
        second = delivered_to("vn-police-cybercrime")
        assert second is not None and second["case_id"] == case_id
        new_id = second["referral_id"]
        assert "re-routed" in second["reason"] and "not_our_jurisdiction" in second["reason"]
        assert second["ack_sla_seconds"] == first["ack_sla_seconds"]  # the SLA goes on with the case
        assert await purposes(declined_id, new_id) == {declined_id: "referral", new_id: "reroute"}

        def has(rid: str, status: str) -> Any:
            return lambda rs: status in nt.statuses(rs, rid)

        await nt.receipts(has(new_id, "DELIVERED"))
        await send_acks(
            case_id,
            ack(new_id, "vn-police-cybercrime", "ACCEPTED"),
            ack(new_id, "vn-police-cybercrime", "IN_PROGRESS"),
            ack(new_id, "vn-police-cybercrime", "COMPLETED", outcome_code="investigation_opened"),
            ack(declined_id, "vn-police-ha-noi", "ACCEPTED"),  # illegal: a declined referral is final
        )
        rs = await nt.receipts(has(new_id, "COMPLETED"))
        assert nt.statuses(rs, new_id) == ["REROUTED", "DELIVERED", "ACKNOWLEDGED", "IN_PROGRESS", "COMPLETED"]
        assert nt.statuses(rs, declined_id) == ["DELIVERED", "REJECTED"]
        rejected = next(r for r in rs if r["referral_id"] == declined_id and r["status"] == "REJECTED")
        assert (rejected["lifecycle_state"], rejected["reason_code"]) == ("DECLINED", "not_our_jurisdiction")
        rerouted = next(r for r in rs if r["referral_id"] == new_id and r["status"] == "REROUTED")
        assert rerouted["related_referral_id"] == declined_id
        completed = next(r for r in rs if r["referral_id"] == new_id and r["status"] == "COMPLETED")
        assert completed["outcome_code"] == "investigation_opened"

        # the illegal action is dead-lettered with its reason, and changed nothing
        letters = await read_topic(
            topics.name(topics.DEADLETTER),
            until=lambda xs: any(CODEC.decode(x.value, "DeadLetter")["reason"] == "illegal_transition" for x in xs),
            timeout=30,
        )
        illegal = [CODEC.decode(x.value, "DeadLetter") for x in letters]
        illegal = [d for d in illegal if d["reason"] == "illegal_transition"]
        assert len(illegal) == 1 and "state DECLINED" in illegal[0]["message"]

        # the reporting agency's own status topic carries each step: kinds and codes, never who or personal data
        steps = ["INTAKE_ACCEPTED", "ROUTED", "DECLINED", "REROUTED", "ACCEPTED", "IN_PROGRESS", "COMPLETED"]
        status = await agency_status(lambda ss: {s["event"] for s in ss} >= {*steps, "DELIVERED", "INTAKE_REJECTED"})
        refused = [s for s in status if s["report_id"] == bad["report_id"]]
        assert [s["event"] for s in refused] == ["INTAKE_REJECTED"]
        assert refused[0]["reason_code"] == "invalid_field" and refused[0]["case_id"] is None
        assert refused[0]["field"] and "jurisdiction" in refused[0]["detail"]
        assert refused[0]["detail"] and "XX-NOPE" not in repr(refused)
        mine = [s for s in status if s["report_id"] == report["report_id"]]
        events = [s["event"] for s in mine]
        assert [e for e in events if e in steps] == steps
        by_event = {s["event"]: s for s in mine}
        assert {"police", "child_protection"} <= set(by_event["ROUTED"]["recipient_kinds"])
        assert by_event["DECLINED"]["reason_code"] == "not_our_jurisdiction"
        assert by_event["REROUTED"]["recipient_kinds"] == ["police"]
        assert by_event["COMPLETED"]["outcome_code"] == "investigation_opened"
        assert all(s["case_id"] == case_id and s["agency_id"] == AGENCY for s in mine)
        text = repr(mine)
        assert "vn-police" not in text and all(v not in text for v in PII.values())
        assert all(v not in repr(rs) for v in PII.values())
        for name in ("intake", "routing", "notifier"):  # the note and the case go into no log line
            text = workers.log_path(name).read_text(errors="replace")
            assert all(v not in text for v in PII.values()), name

        # `referral-bus status AGENCY/REPORT_ID` shows the same steps
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = await asyncio.to_thread(cli, ["status", f"{AGENCY}/{report['report_id']}"])
        assert code == 0
        shown = [ln.split()[1] for ln in out.getvalue().splitlines()[1:]]
        assert [e for e in shown if e in steps] == steps and "vn-police" not in out.getvalue()


async def test_transfer_reaches_the_named_recipient_redacted_to_its_own_profile(kafka: str, namespace: str) -> None:
    report = valid_report(agency_id=AGENCY, category="OTHER", severity="MEDIUM", content_hashes=[], content_urls=[])
    async with three_workers(kafka, namespace) as (web, workers):
        await nt.produce(topics.intake_topic(AGENCY), [(key_of(report), CODEC.encode("CaseReport", report))])

        def body_for(recipient_id: str) -> bytes | None:
            return next((d.body for d in web.deliveries if d.recipient_id == recipient_id), None)

        assert await wait_for(lambda: body_for("vn-police-ha-noi") is not None, 90), workers.tail("notifier")
        police = body_for("vn-police-ha-noi")
        assert police is not None and PII["victim_name"].encode() in police  # profile full
        first = json.loads(police)
        case_id, rid = first["case_id"], first["referral_id"]
        await nt.receipts(lambda rs: "DELIVERED" in nt.statuses(rs, rid))
        await send_acks(
            case_id,
            ack(rid, "vn-police-ha-noi", "ACCEPTED"),
            # police → health is not an allowed transfer (config/lifecycle.yaml): refused, not applied
            ack(rid, "vn-police-ha-noi", "TRANSFERRED", transfer_to="vn-health-oscc-national", reason_code="other"),
            ack(
                rid,
                "vn-police-ha-noi",
                "TRANSFERRED",
                transfer_to="vn-child-protection-national",
                reason_code="not_our_mandate",
            ),
        )
        assert await wait_for(lambda: body_for("vn-child-protection-national") is not None, 60), (
            workers.tail("routing") + "\n" + workers.tail("notifier")
        )
        cp = body_for("vn-child-protection-national")
        assert cp is not None
        doc = json.loads(cp)
        assert doc["data_profile"] == "need_to_know" and "transferred" in doc["reason"]
        assert PII["victim_name"].encode() not in cp  # redacted to the new recipient's own profile
        assert body_for("vn-health-oscc-national") is None
        assert await purposes(rid, doc["referral_id"]) == {rid: "referral", doc["referral_id"]: "reroute"}
        rs = await nt.receipts(lambda rs: "DELIVERED" in nt.statuses(rs, doc["referral_id"]))
        assert nt.statuses(rs, rid) == ["DELIVERED", "ACKNOWLEDGED", "TRANSFERRED"]
        moved = next(r for r in rs if r["referral_id"] == doc["referral_id"] and r["status"] == "TRANSFERRED")
        assert moved["related_referral_id"] == rid and moved["reason_code"] == "not_our_mandate"
        letters = await read_topic(
            topics.name(topics.DEADLETTER),
            until=lambda xs: any(CODEC.decode(x.value, "DeadLetter")["reason"] == "invalid_ack" for x in xs),
            timeout=30,
        )
        refused = [d for d in (CODEC.decode(x.value, "DeadLetter") for x in letters) if d["reason"] == "invalid_ack"]
        assert len(refused) == 1 and refused[0]["field"] == "transfer_to"
        status = await agency_status(lambda ss: sum(s["event"] == "TRANSFERRED" for s in ss) >= 2)
        kinds = sorted(s["recipient_kinds"][0] for s in status if s["event"] == "TRANSFERRED")
        assert kinds == ["child_protection", "police"]


async def test_the_lifecycle_survives_a_notifier_restart(kafka: str, namespace: str) -> None:
    report = valid_report(agency_id=AGENCY, category="OTHER", severity="MEDIUM", content_hashes=[], content_urls=[])
    async with three_workers(kafka, namespace) as (web, workers):
        await nt.produce(topics.intake_topic(AGENCY), [(key_of(report), CODEC.encode("CaseReport", report))])

        def doc_of(recipient_id: str) -> dict[str, Any] | None:
            return next((d.json() for d in web.deliveries if d.recipient_id == recipient_id), None)

        assert await wait_for(lambda: doc_of("vn-police-ha-noi") is not None, 90), workers.tail("notifier")
        first = doc_of("vn-police-ha-noi")
        assert first is not None
        case_id, old = first["case_id"], first["referral_id"]
        await nt.receipts(lambda rs: "DELIVERED" in nt.statuses(rs, old))
        await send_acks(case_id, ack(old, "vn-police-ha-noi", "DECLINED", reason_code="no_capacity"))
        assert await wait_for(lambda: doc_of("vn-police-cybercrime") is not None, 60), workers.tail("routing")
        second = doc_of("vn-police-cybercrime")
        assert second is not None
        new = second["referral_id"]
        await nt.receipts(lambda rs: "DELIVERED" in nt.statuses(rs, new))

        workers.stop("notifier")  # the states live in the changelogged referral_state table
        workers.start("notifier")
        workers.wait_ready(names=["notifier"])
        await send_acks(
            case_id,
            ack(old, "vn-police-ha-noi", "ACCEPTED"),  # still DECLINED after the restart: refused
            ack(new, "vn-police-cybercrime", "ACCEPTED"),
        )
        rs = await nt.receipts(lambda rs: "ACKNOWLEDGED" in nt.statuses(rs, new), timeout=90)
        assert nt.statuses(rs, old) == ["DELIVERED", "REJECTED"]
        assert nt.statuses(rs, new) == ["REROUTED", "DELIVERED", "ACKNOWLEDGED"]
        letters = await read_topic(
            topics.name(topics.DEADLETTER),
            until=lambda xs: any(CODEC.decode(x.value, "DeadLetter")["reason"] == "illegal_transition" for x in xs),
            timeout=30,
        )
        assert any(CODEC.decode(x.value, "DeadLetter")["referral_id"] == old for x in letters)
        assert [d.recipient_id for d in web.deliveries].count("vn-police-cybercrime") == 1  # not re-sent
