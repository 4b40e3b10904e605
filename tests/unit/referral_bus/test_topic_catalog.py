"""Priority lanes (referral_bus/topic_catalog.py LANES): every priority of the contract has exactly one lane."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from referral_bus import topics
from referral_bus.settings import REPO_ROOT
from referral_bus.topic_catalog import LANES, lane_of, lane_topics

# The contract's priorities (most urgent last in the Avro enum), read from the schema, not restated here.
_DECISION = json.loads((REPO_ROOT / "schemas" / "avro" / "RoutingDecision.avsc").read_text(encoding="utf-8"))
PRIORITIES: list[str] = next(f["type"]["symbols"] for f in _DECISION["fields"] if f["name"] == "priority")
BY_URGENCY = sorted(PRIORITIES)  # P1 (most urgent) .. P4


def test_the_contract_has_the_four_priorities() -> None:
    assert BY_URGENCY == ["P1", "P2", "P3", "P4"]


def test_every_priority_is_in_exactly_one_lane() -> None:
    for priority in PRIORITIES:
        holding = [lane.name for lane in LANES if priority in lane.priorities]
        assert len(holding) == 1, (priority, holding)
        assert lane_of(priority).name == holding[0]
    assert set().union(*(lane.priorities for lane in LANES)) == set(PRIORITIES)  # no lane names anything else


def test_p1_has_a_lane_of_its_own_and_p4_never_shares_it() -> None:
    urgent = lane_of("P1")
    assert urgent.topic == topics.REFERRALS_URGENT
    assert all(lane_of(p) != urgent for p in PRIORITIES if p != "P1")
    assert lane_of("P4").topic == topics.REFERRALS  # the historical topic stays the standard lane


def test_a_more_urgent_priority_never_travels_in_a_later_lane() -> None:
    order = [lane.name for lane in LANES]
    positions = [order.index(lane_of(p).name) for p in BY_URGENCY]
    assert positions == sorted(positions)


def test_every_lane_topic_is_declared_like_the_referrals_topic() -> None:
    declared = {t.name: t for t in topics.ALL}
    standard = declared[topics.REFERRALS]
    assert lane_topics() == tuple(lane.topic for lane in LANES)
    assert len(set(lane_topics())) == len(LANES)
    for name in lane_topics():
        spec = declared[name]
        assert (spec.retention_ms, spec.sensitivity, spec.compacted, spec.partitions) == (
            standard.retention_ms,
            standard.sensitivity,
            standard.compacted,
            standard.partitions,  # co-partitioned with every topic keyed by case_id
        )


@given(st.text(max_size=8).filter(lambda p: p not in PRIORITIES))
def test_a_priority_no_lane_names_goes_to_the_last_lane(priority: str) -> None:
    assert lane_of(priority) == LANES[-1]
