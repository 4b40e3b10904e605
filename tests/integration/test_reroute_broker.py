"""Re-routing through the real broker and a real routing worker: a decline that leaves a child's case without
child protection alerts the duty desk (referral, UNCOVERED receipt, agency status); hostile re-route
requests are dead-lettered and the worker goes on."""

from __future__ import annotations

from typing import Any

import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.reading import read_topic
from referral_devstack.workers import Workers, temp_workdir
from services.routing.decisions import referral_id_for
from tests.support import notifier as nt
from tests.support.lanes import lane_names

pytestmark = [pytest.mark.kafka]
CODEC = Codec()
AGENCY = "vn-hotline-111"


def request(original: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "request_id": "q-" + original["referral_id"],
        "case_id": original["case_id"],
        "referral_id": original["referral_id"],
        "recipient_id": original["recipient_id"],
        "recipient_kind": "child_protection",
        "action": "DECLINED",
        "transfer_to": None,
        "reason_code": "no_capacity",
        "excluded": [original["recipient_id"], "vn-child-protection-national"],
        "active_kinds": ["police"],
        "requested_at": 1,
        "referral": CODEC.encode("Referral", original),
        **extra,
    }


async def test_an_uncovered_mandatory_kind_alerts_the_duty_desk_and_bad_requests_are_dead_lettered(
    kafka: str, namespace: str
) -> None:
    original = nt.referral("vn-child-protection-ha-noi")
    original["case"]["report"]["agency_id"] = AGENCY
    case_id = original["case_id"]
    good = CODEC.encode("RerouteRequest", request(original))
    bad_inner = CODEC.encode("RerouteRequest", request(original, referral=b"\x01not a referral"))
    with temp_workdir("reroute-") as work:
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka})
        try:
            workers.start("routing")
            workers.wait_ready(names=["routing"])
            await nt.produce(topics.REROUTE, [(case_id.encode(), b"\x01garbage"), (case_id.encode(), bad_inner)])
            await nt.produce(topics.REROUTE, [(case_id.encode(), good)])
            desk = referral_id_for(case_id, "vn-police-duty-desk")
            refs = await read_topic(
                lane_names(),
                until=lambda rs: any(CODEC.decode(r.value, "Referral")["referral_id"] == desk for r in rs),
                timeout=60,
            )
            alerts = [CODEC.decode(r.value, "Referral") for r in refs]
            assert len(alerts) == 1, workers.tail("routing")
            alert = alerts[0]
            assert alert["recipient_id"] == "vn-police-duty-desk" and alert["case"]["case_id"] == case_id
            assert "mandatory kind child_protection" in alert["reason"]
            rs = await nt.receipts(lambda rs: "UNCOVERED" in nt.statuses(rs, original["referral_id"]))
            uncovered = next(r for r in rs if r["status"] == "UNCOVERED")
            assert "vn-police-duty-desk alerted" in uncovered["detail"]
            status = await read_topic(
                topics.name(topics.status_topic(AGENCY)),
                until=lambda xs: any(CODEC.decode(x.value, "ReportStatus")["event"] == "UNCOVERED" for x in xs),
                timeout=30,
            )
            event = next(
                s for s in (CODEC.decode(x.value, "ReportStatus") for x in status) if s["event"] == "UNCOVERED"
            )
            assert event["recipient_kinds"] == ["child_protection"] and event["case_id"] == case_id
            letters = await read_topic(topics.name(topics.DEADLETTER), until=lambda xs: len(xs) >= 2, timeout=30)
            dead = [CODEC.decode(x.value, "DeadLetter") for x in letters]
            assert sorted(d["reason"] for d in dead) == ["undecodable", "undecodable"]
            assert {d["stage"] for d in dead} == {"routing"}
            assert {d["original_value"] for d in dead} == {b"\x01garbage", bad_inner}
        finally:
            workers.stop_all()
