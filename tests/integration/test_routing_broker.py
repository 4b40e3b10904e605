"""Routing through the real broker: a real `faust worker` for routing reads Cases and writes decisions and
referrals; an undecodable Case is dead-lettered with stage `routing` and the worker keeps going."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.topic_catalog import lane_of
from referral_devstack.reading import read_topic
from referral_devstack.workers import Workers, temp_workdir
from services.routing.decisions import referral_id_for
from tests.support.lanes import lane_names

pytestmark = [pytest.mark.kafka]


def _case(case_id: str, **report: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "report_id": f"R-{case_id}",
        "agency_id": "sample-agency",
        "source_system": "routing-integration-test",
        "reported_at": 1_790_000_000_000,
        "category": "OTHER",
        "severity": "MEDIUM",
        "victim": {"age_band": "ADULT", "is_minor": False, "jurisdiction": "VN-HN"},
        "offender": {"country": None},
        "consent": "NOT_ASKED",
    }
    base.update(report)
    return {"case_id": case_id, "accepted_at": 1_790_000_000_500, "report": base}


CHILD_ABROAD = _case(
    "case-child-abroad",
    category="SEXTORTION",
    severity="IMMINENT_DANGER",
    victim={"age_band": "AGE_16_17", "is_minor": True, "jurisdiction": "VN-SG"},
    offender={"country": "PH"},
    hosting_country="US",
    preservation_requested=True,
    consent="NOT_REQUIRED_CHILD",
)
ADULT_HUE = _case(
    "case-adult-hue",
    category="HARASSMENT",
    victim={"age_band": "ADULT", "is_minor": False, "jurisdiction": "VN-26"},
    consent="GIVEN",
)
ADULT_NO_CONSENT = _case("case-adult-no-consent", category="DOXXING")


async def test_cases_are_routed_and_a_bad_case_is_dead_lettered(kafka: str, namespace: str) -> None:
    codec = Codec()
    with temp_workdir("routing-") as work:
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka})
        try:
            workers.start("routing")
            workers.wait_ready(names=["routing"])
            producer = AIOKafkaProducer(bootstrap_servers=kafka)
            await producer.start()
            try:
                # one key → one partition: the cases after the bad one prove the worker kept going
                for value in (
                    codec.encode("Case", CHILD_ABROAD),
                    b"\xc3\x01not-a-case",
                    codec.encode("Case", ADULT_HUE),
                    codec.encode("Case", ADULT_NO_CONSENT),
                ):
                    await producer.send_and_wait(topics.name(topics.CASES), value, key=b"same-key")
            finally:
                await producer.stop()

            raw = await read_topic(topics.name(topics.DECISIONS), until=lambda rs: len(rs) >= 3, timeout=90)
            assert len(raw) == 3, workers.tail("routing")
            decisions = {d["case_id"]: d for d in (codec.decode(r.value, "RoutingDecision") for r in raw)}

            child = decisions["case-child-abroad"]
            recipients = {r["recipient_id"]: r for r in child["recipients"]}
            assert set(recipients) == {
                "vn-police-ho-chi-minh",
                "vn-child-protection-ho-chi-minh",
                "vn-police-cybercrime",
                "vn-child-hotline-111",
                "intl-ph-24-7",
                "intl-us-24-7",
            }
            assert child["priority"] == "P1" and child["ack_sla_seconds"] == 900
            assert child["preservation_request"] is True and child["unmatched"] is False
            assert "child-mandatory-reporting" in child["matched_rules"]
            assert recipients["intl-ph-24-7"]["rule_ids"] == ["cross-border-offender"]
            assert recipients["intl-ph-24-7"]["reason"] == "international_partner at offender_country PH"
            assert all(r["fallback"] is None for r in child["recipients"])

            hue = {r["recipient_id"]: r for r in decisions["case-adult-hue"]["recipients"]}
            assert set(hue) == {"vn-police-hue", "vn-social-services-national"}
            assert hue["vn-social-services-national"]["fallback"] == (
                "no social_services at VN-26; national social_services of VN used"
            )
            assert decisions["case-adult-hue"]["priority"] == "P3"

            # an adult who was not asked and chose no service: held for the reporting agency, no referral
            flagged = decisions["case-adult-no-consent"]
            assert flagged["unmatched"] is True and flagged["held"] is True
            assert flagged["recipients"] == [] and flagged["held_for"] == "sample-agency"

            want = sum(len(d["recipients"]) for d in decisions.values())
            raw_refs = await read_topic(lane_names(), until=lambda rs: len(rs) >= want, timeout=60)
            referrals = [codec.decode(r.value, "Referral") for r in raw_refs]
            assert len(referrals) == want == 8
            for raw, ref in zip(raw_refs, referrals, strict=True):
                assert raw.topic == topics.name(lane_of(ref["priority"]).topic)  # each in its priority's lane
                assert ref["referral_id"] == referral_id_for(ref["case_id"], ref["recipient_id"])
                assert ref["priority"] == decisions[ref["case_id"]]["priority"]
                assert ref["decision_id"] == decisions[ref["case_id"]]["decision_id"]
            assert {r.key for r in raw_refs} == {b"case-child-abroad", b"case-adult-hue"}

            dl = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 1, timeout=30)
            assert len(dl) == 1
            letter = codec.decode(dl[0].value, "DeadLetter")
            assert letter["stage"] == "routing"
            assert letter["reason"] in {"undecodable", "unknown_schema"}
            assert letter["original_value"] == b"\xc3\x01not-a-case"
            assert letter["source_topic"] == topics.name(topics.CASES) and letter["source_offset"] == 1
            assert workers.procs["routing"].poll() is None, "the routing worker must keep running"
        finally:
            workers.stop_all()
