"""The pending rows kept per change (PendingTally, PendingIndex) equal `summarise` over every waiting referral."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.pending import (
    STATES,
    UNACKNOWLEDGED,
    UNDELIVERED,
    PendingIndex,
    PendingTally,
    Waiting,
    summarise,
)

KEYS = [f"r{i}" for i in range(6)]
waitings = st.builds(
    Waiting,
    st.sampled_from(["P1", "P9"]),  # P9: a priority outside PRIORITIES gets its own rows while it waits
    st.sampled_from(STATES),
    st.integers(0, 10_000) | st.integers(0, 3),  # few distinct times: ties and repeats too
    st.sampled_from([0, 1, 2, 5]),
)
# a change of one referral, or the gauges' look at a time (mostly later, sometimes earlier: a clock stepped back)
puts = st.tuples(st.just("put"), st.sampled_from(KEYS), st.none() | waitings)
steps = st.one_of(
    puts,
    puts,
    puts,
    st.tuples(st.just("rows"), st.integers(-3_000, 6_000)),
    st.tuples(st.just("rebuild"), st.dictionaries(st.sampled_from(KEYS), waitings, max_size=4)),
)


@given(st.lists(steps, min_size=10, max_size=150))
def test_same_rows_as_summarise_for_any_sequence_of_changes(sequence: list[tuple[Any, ...]]) -> None:
    index, now, current = PendingIndex(), 0, {}
    index.tally = PendingTally(slack=0)  # compacted as often as can be: compaction is exercised too
    for step in sequence:
        if step[0] == "put":
            _, key, waiting = step
            index.put(key, 0, waiting)
            current.pop(key, None)
            if waiting is not None:
                current[key] = waiting
        elif step[0] == "rebuild":
            index.rebuild(frozenset({0}), [(key, None, w) for key, w in step[1].items()])
            current = dict(step[1])
        else:
            now = max(0, now + step[1])
            assert index.tally.rows(now) == summarise(current.values(), now)
    assert index.tally.rows(now + 1) == summarise(current.values(), now + 1)
    assert len(index.tally) == len(current) == len(index)


def test_many_changes_to_few_referrals_keep_the_heaps_small() -> None:
    tally = PendingTally()
    for i in range(10_000):
        tally.put("r1", Waiting("P1", STATES[i % 2], i, 1))
        tally.put("r2", Waiting("P2", STATES[0], i, 0))
    assert sum(len(heap) for heap in tally._since.values()) < 300
    assert sum(len(heap) for heap in tally._deadlines.values()) < 300
    rows = tally.rows(20_000)
    assert rows == summarise([Waiting("P1", STATES[1], 9_999, 1), Waiting("P2", STATES[0], 9_999, 0)], 20_000)


def test_referrals_passing_through_a_small_bucket_into_a_big_one_cost_no_walk_of_the_pile(monkeypatch: Any) -> None:
    """As in the notifier: each referral is undelivered for a moment, then waits unacknowledged; the pile grows."""
    tally = PendingTally()
    monkeypatch.setattr(tally, "reset", lambda items: pytest.fail("a put started over from every referral"))
    for i in range(5_000):
        tally.put(f"r{i}", Waiting("P2", UNDELIVERED, i, 900))
        tally.put(f"r{i}", Waiting("P2", UNDELIVERED, i, 900))  # a retry: the same as before
        tally.put(f"r{i}", Waiting("P2", UNACKNOWLEDGED, i, 900))
        if i % 500 == 0:
            tally.rows(i)
    assert len(tally._since["P2", UNDELIVERED]) <= 2 * 0 + 65
    assert len(tally._deadlines["P2", UNDELIVERED]) <= 2 * 0 + 65
    expected = summarise([Waiting("P2", UNACKNOWLEDGED, i, 900) for i in range(5_000)], 1_000_000)
    assert tally.rows(1_000_000) == expected
