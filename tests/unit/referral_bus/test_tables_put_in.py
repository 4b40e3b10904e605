"""`Table.put_in`: a write in a changelog partition named by the caller, not the current event's."""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.inflight import Pending, current
from referral_bus.kafka import key_partition
from referral_bus.staged import StagedTable
from referral_bus.tables import flush_changelog, write
from tests.support.tables import Recording, recording_table


def table() -> Recording:
    return recording_table("put-in-test")


def test_put_in_writes_the_named_partition_notes_it_and_joins_the_event() -> None:
    t, pending = table(), Pending()
    token = current.set(pending)
    try:
        write(t, "k", {"v": 1}, 3)
        StagedTable(t).write_now("q", 7, 2)
    finally:
        current.reset(token)
    assert t.sent == [], "inside an event the records wait for the handler's end (one per key)"
    flush_changelog(pending)
    assert t.sent == [(3, "k", {"v": 1}), (2, "q", 7)]
    assert t.data["k"] == {"v": 1} and t.data["q"] == 7
    assert t.written.partition_of("k") == 3 and t.written.partition_of("q") == 2
    assert list[Any](pending.sends) == [("send", 3, "k"), ("send", 2, "q")], "the event's ack waits for both"


def test_a_plain_mapping_is_just_assigned() -> None:
    plain: dict[str, Any] = {}
    assert write(plain, "k", 1, 5) is None and plain == {"k": 1}


@given(key=st.binary(min_size=1, max_size=64), partitions=st.integers(1, 64))
def test_key_partition_is_the_producers_partitioner(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert key_partition(key, partitions) == DefaultPartitioner()(key, every, every)
