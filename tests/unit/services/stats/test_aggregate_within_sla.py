"""Acknowledged-within-SLA counts from routing under the referral's own SLA (DeliveryReceipt v4), whatever
the delivery latency, the case's other decisions or the order the events arrive in; older receipts as before."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.stats.aggregate import ACKED, ACKED_IN_SLA, Aggregator, within_sla
from services.stats.dimensions import Kinds
from services.stats.figures import collect

KINDS = Kinds({"vn-hotline-111": "hotline"}, {"vn-police-cybercrime": "police"})
REPORTED = 1_789_000_000_000  # a Wednesday


def case() -> dict[str, Any]:
    victim = {"age_band": "13_15", "jurisdiction": "VN-HN", "sex": None}
    report = {"report_id": "R1", "agency_id": "vn-hotline-111", "reported_at": REPORTED, "category": "CSAM"}
    report |= {"offender": {"country": None}, "hosting_country": None}
    return {"case_id": "c1", "is_update": False, "report": {**report, "victim": victim, "platform": None}}


def decision(decision_id: str, sla_seconds: int) -> dict[str, Any]:
    recipients = [{"recipient_id": "vn-police-cybercrime"}]
    return {"decision_id": decision_id, "case_id": "c1", "ack_sla_seconds": sla_seconds, "recipients": recipients}


def ack(latency_ms: int, clock: dict[str, int] | None) -> dict[str, Any]:
    ids = {"referral_id": "ref-1", "case_id": "c1", "recipient_id": "vn-police-cybercrime"}
    return {**ids, "status": "ACKNOWLEDGED", "latency_ms": latency_ms, "attempt": 0, **(clock or {})}


def counted(events: list[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
    """(acknowledged, acknowledged within SLA) after applying `events`."""
    members: dict[str, int] = {}
    agg = Aggregator(members, {}, KINDS)
    for kind, value in events:
        getattr(agg, kind)(value, 0)
    figures = list(collect(members.items()).values())
    return (
        sum(sum(f.metric(ACKED).values()) for f in figures),
        sum(sum(f.metric(ACKED_IN_SLA).values()) for f in figures),
    )


@given(
    own_sla=st.integers(1, 7200),
    to_delivery=st.integers(0, 10_000_000),
    to_ack=st.integers(0, 10_000_000),
    decision_slas=st.lists(st.integers(1, 7200), min_size=1, max_size=3),
    order=st.integers(0, 119),
)
def test_within_sla_counts_from_routing_under_the_referral_s_own_sla(
    own_sla: int, to_delivery: int, to_ack: int, decision_slas: list[int], order: int
) -> None:
    since_routing = to_delivery + to_ack
    receipt = ack(to_ack, {"since_routing_ms": since_routing, "ack_sla_seconds": own_sla})
    events = [("case", case()), ("receipt", receipt)]
    events += [("decision", decision(f"d{i}", s)) for i, s in enumerate(decision_slas)]
    permutations = list(itertools.permutations(events))
    shuffled = list(permutations[order % len(permutations)])
    assert counted(shuffled) == (1, int(since_routing <= own_sla * 1000))


def test_an_escalated_referral_s_own_sla_wins_over_the_case_s_last_decision() -> None:
    # delivered 50 min after routing, acknowledged 20 min later: 70 min from routing, its own SLA 1 h;
    # the case's last decision (a linked report's) says 2 h and delivery-to-ack is only 20 min
    late = ack(20 * 60_000, {"since_routing_ms": 70 * 60_000, "ack_sla_seconds": 3600})
    assert counted(
        [("case", case()), ("decision", decision("d1", 3600)), ("decision", decision("d2", 7200)), ("receipt", late)]
    ) == (1, 0)
    # a raised referral's own 15 min SLA, acknowledged 10 min after routing: within, whatever the decisions say
    raised = ack(5 * 60_000, {"since_routing_ms": 10 * 60_000, "ack_sla_seconds": 900})
    assert counted([("case", case()), ("decision", decision("d1", 60)), ("receipt", raised)]) == (1, 1)


def test_a_receipt_with_its_own_clock_needs_no_decision() -> None:
    receipt = ack(1000, {"since_routing_ms": 2000, "ack_sla_seconds": 60})
    assert counted([("case", case()), ("receipt", receipt)]) == (1, 1)


def test_receipts_older_than_v4_keep_the_delivery_latency_against_the_case_s_sla() -> None:
    assert within_sla(ack(3_600_000, None), 3_600_000)
    assert not within_sla(ack(3_600_001, None), 3_600_000)
    assert not within_sla(ack(1, None), None)
    assert not within_sla({**ack(1, None), "latency_ms": None}, 3_600_000)
    assert counted([("case", case()), ("receipt", ack(1000, None))]) == (0, 0)  # waits for its decision
    assert counted([("case", case()), ("receipt", ack(1000, None)), ("decision", decision("d", 1))]) == (1, 1)
