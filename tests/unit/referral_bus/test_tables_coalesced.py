"""One changelog record per key an event wrote: the records replayed give the table as the event left it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.inflight import Pending, current
from referral_bus.tables import GONE, flush_changelog
from tests.support.tables import TOMBSTONE, Recording, recording_table


def table() -> Recording:
    return recording_table("coalesce-test")


KEYS = st.sampled_from(["a", "b", "c"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, st.integers(0, 3), st.one_of(st.none(), st.integers(0, 9))),
        st.tuples(st.just("delete"), KEYS, st.integers(0, 3), st.none()),
    ),
    max_size=30,
)


def apply(t: Recording, ops: list[tuple[str, str, int, int | None]]) -> None:
    for op, key, partition, value in ops:
        if op == "put":
            t.put_in(partition, key, value)
        elif key in t.data:
            t.data.pop(key)
            t._record(partition, key, GONE)  # what delete() does, with the partition named


@settings(deadline=None)
@given(before=OPS, ops=OPS)
def test_one_record_per_key_and_partition_and_replaying_them_gives_the_table(
    before: list[tuple[str, str, int, int | None]], ops: list[tuple[str, str, int, int | None]]
) -> None:
    t = table()
    apply(t, before)  # outside an event: each write at once, as before
    pending = Pending()
    token = current.set(pending)
    try:
        apply(t, ops)
    finally:
        current.reset(token)
    event_start = len(t.sent)
    flush_changelog(pending)
    records = t.sent[event_start:]
    touched = {(p, k) for _, k, p, _ in ops}
    assert len(records) == len({(p, k) for p, k, _ in records}), "one record per (partition, key)"
    assert {(p, k) for p, k, _ in records} <= touched
    assert len(pending.sends) == len(records), "the event's ack waits for every record"
    replayed: dict[str, Any] = {}
    for _, key, value in t.sent:  # restore: the last record of each key wins (a tombstone removes it)
        if value == TOMBSTONE:
            replayed.pop(key, None)
        else:
            replayed[key] = value
    assert replayed == dict(t.data)


def test_a_write_after_the_handler_returned_is_sent_at_once_and_joins_the_event() -> None:
    t, pending = table(), Pending()
    token = current.set(pending)
    try:
        t.put_in(1, "k", 1)
        flush_changelog(pending)
        t.put_in(1, "k", 2)  # e.g. from a task the handler started
    finally:
        current.reset(token)
    assert t.sent == [(1, "k", 1), (1, "k", 2)]
    assert list[Any](pending.sends) == [("send", 1, "k"), ("send", 1, "k")]
