"""Expiry: which entries of a partition have expired, compared with a model over arbitrary write histories."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from referral_bus.expiry import Expiry, Written

# A history: (key, partition, at_ms, deleted?) in time order.
event = st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 3), st.integers(0, 50), st.booleans())
histories = st.lists(event, max_size=60)


def replay(history: list[tuple[str, int, int, bool]]) -> tuple[Written, dict[str, tuple[int, int]]]:
    """The index after `history`, and a model: key → (partition, last write time) of live keys."""
    written, model, clock = Written(), {}, 0
    for key, partition, step, deleted in history:
        clock += step  # times never go back, as on one worker's clock
        if deleted:
            written.forget(key)
            model.pop(key, None)
        else:
            written.note(key, partition, clock)
            model[key] = (partition, clock)
    return written, model


@given(histories, st.integers(0, 3), st.integers(0, 200), st.integers(0, 3000))
def test_expired_is_exactly_the_partitions_keys_written_long_enough_ago(history, partition, after, now) -> None:
    written, model = replay(history)
    found = written.expired(partition, Expiry(after), now, lambda k: None)
    want = {k for k, (p, at) in model.items() if p == partition and now - at >= after}
    assert set(found) == want and len(found) == len(want)
    assert len(written) == len(model)


@given(histories, st.integers(0, 3), st.integers(0, 200), st.integers(0, 3000))
def test_a_closed_test_keeps_open_entries_however_old(history, partition, after, now) -> None:
    written, model = replay(history)
    is_closed = {k: k in "aceg" for k in model}
    found = written.expired(partition, Expiry(after, closed=lambda v: v), now, lambda k: is_closed[str(k)])
    assert set(found) == {k for k, (p, at) in model.items() if p == partition and now - at >= after and is_closed[k]}


@given(histories, st.sets(st.integers(0, 3)))
def test_keep_only_drops_the_partitions_that_left(history, kept) -> None:
    written, model = replay(history)
    written.keep_only(kept)
    assert len(written) == sum(1 for p, _ in model.values() if p in kept)
    for key, (p, _) in model.items():
        assert written.partition_of(key) == (p if p in kept else None)


def test_a_rewrite_restarts_the_clock_and_moves_the_key_to_its_new_partition() -> None:
    written = Written()
    written.note("k", 0, 0)
    written.note("k", 2, 100)
    rule = Expiry(50)
    assert written.expired(0, rule, 1000, lambda k: None) == []
    assert written.expired(2, rule, 120, lambda k: None) == []
    assert written.expired(2, rule, 150, lambda k: None) == ["k"]


def test_values_are_read_only_for_entries_old_enough() -> None:
    written, read = Written(), []
    for i in range(5):
        written.note(f"k{i}", 0, i * 10)

    def value_of(key: object) -> bool:
        read.append(key)
        return True

    assert written.expired(0, Expiry(25, closed=bool), 40, value_of) == ["k0", "k1"]
    assert read == ["k0", "k1"]  # k2 (written at 20, 20 ms ago) stops the scan: every later key is younger


def test_expiry_rule_edges() -> None:
    rule = Expiry(100)
    assert not rule.expired("v", 0, 99)
    assert rule.expired("v", 0, 100)
    assert not Expiry(0, closed=lambda v: False).expired("v", 0, 10**12)
