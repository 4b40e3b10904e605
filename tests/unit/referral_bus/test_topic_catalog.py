"""Priority lanes (referral_bus/topic_catalog.py LANES): every priority of the contract has exactly one lane,
and its retries travel in that lane's retry topic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from referral_bus import topics
from referral_bus.topic_catalog import LANES, lane_of, lane_topics, retry_topics
from tests.support.lanes import PRIORITIES

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


def _declared_like(names: tuple[str, ...], like: str) -> None:
    declared = {t.name: t for t in topics.ALL}
    model = declared[like]
    assert len(set(names)) == len(LANES)
    for name in names:
        spec = declared[name]
        assert (spec.retention_ms, spec.sensitivity, spec.compacted, spec.partitions) == (
            model.retention_ms,
            model.sensitivity,
            model.compacted,
            model.partitions,  # co-partitioned with every topic keyed by case_id
        )


def test_every_lane_topic_is_declared_like_the_referrals_topic() -> None:
    assert lane_topics() == tuple(lane.topic for lane in LANES)
    _declared_like(lane_topics(), topics.REFERRALS)


def test_every_lane_retry_topic_is_declared_like_the_retry_topic() -> None:
    assert retry_topics() == tuple(lane.retry for lane in LANES)
    _declared_like(retry_topics(), topics.RETRY)
    assert not set(retry_topics()) & set(lane_topics())  # a retry never lands among first attempts


def test_retries_travel_in_the_lane_of_their_priority_for_every_priority() -> None:
    retry_of = {lane.topic: lane.retry for lane in LANES}  # the referrals lane → its retry lane
    for priority in PRIORITIES:
        lane = lane_of(priority)
        assert lane.retry == retry_of[lane.topic]
        assert (lane.retry == topics.RETRY_URGENT) == (priority == "P1"), priority
    assert lane_of("P4").retry == topics.RETRY  # the historical retry topic stays the standard lane's


@given(st.text(max_size=8).filter(lambda p: p not in PRIORITIES))
def test_a_priority_no_lane_names_goes_to_the_last_lane(priority: str) -> None:
    assert lane_of(priority) == LANES[-1]
    assert lane_of(priority).retry == topics.RETRY  # its retries never take the urgent retry lane
