"""The pending rows kept per change (PendingTally, PendingIndex) equal `summarise` over every waiting referral."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.pending import STATES, PendingIndex, PendingTally, Waiting, summarise

KEYS = [f"r{i}" for i in range(6)]
waitings = st.builds(
    Waiting,
    st.sampled_from(["P1", "P2", "P4", "P9"]),  # P9: a priority outside PRIORITIES gets its own rows while it waits
    st.sampled_from(STATES),
    st.integers(0, 10_000),
    st.sampled_from([0, 1, 2, 5]),
)
# a change of one referral, or the gauges' look at a time (mostly later, sometimes earlier: a clock stepped back)
steps = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.none() | waitings),
    st.tuples(st.just("rows"), st.integers(-3_000, 6_000)),
    st.tuples(st.just("rebuild"), st.dictionaries(st.sampled_from(KEYS), waitings, max_size=4)),
)


@given(st.lists(steps, max_size=60))
def test_same_rows_as_summarise_for_any_sequence_of_changes(sequence: list[tuple[Any, ...]]) -> None:
    index, now, current = PendingIndex(), 0, {}
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
    assert tally.rows(20_000) == summarise(
        [Waiting("P1", STATES[1], 9_999, 1), Waiting("P2", STATES[0], 9_999, 0)], 20_000
    )
