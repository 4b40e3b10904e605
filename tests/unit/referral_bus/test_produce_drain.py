"""aiokafka's drain by node (referral_bus/produce_drain.py): Java's rule, and nothing sent late, lost or reordered."""

from __future__ import annotations

import asyncio
import random
import types
from typing import Any

import pytest
from aiokafka.errors import LeaderNotAvailableError, NotLeaderForPartitionError
from aiokafka.producer import message_accumulator
from aiokafka.producer.message_accumulator import MessageAccumulator
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.structs import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus import faust_patches, produce_drain

LINGER = 0.005
ORIGINAL = getattr(MessageAccumulator.drain_by_nodes, "__wrapped__", MessageAccumulator.drain_by_nodes)  # aiokafka's
ORIGINAL_APPEND = getattr(MessageAccumulator._append_batch, "__wrapped__", MessageAccumulator._append_batch)
partition_states = st.fixed_dictionaries(
    {
        "leader": st.sampled_from([1, 1, 1, 2, 2, 3, None, -1]),
        "ages": st.lists(st.sampled_from([0.0, 0.001, 0.0049, 0.005, 0.02, 100.0]), min_size=1, max_size=3),
        "records": st.integers(0, 3),  # records in the first batch: 0 = an empty batch (every append refused)
        "closed": st.booleans(),  # the first batch is full
        "muted": st.sampled_from([False, False, False, True]),
    }
)
states = st.dictionaries(st.tuples(st.sampled_from("abc"), st.integers(0, 5)), partition_states, max_size=14)


class Clock:
    """message_accumulator's `time` module with a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(message_accumulator, "time", frozen)
    return frozen


def _accumulator(leaders: dict[TopicPartition, int | None], linger: float = LINGER) -> Any:
    cluster = types.SimpleNamespace(leader_for_partition=leaders.get)
    return MessageAccumulator(cluster, 16384, 0, 30.0, loop=asyncio.get_running_loop(), linger_ms=linger * 1000)


def _fill(acc: Any, clock: Clock, partitions: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Batches as `partitions` says, oldest first (each batch holds its first record's key: b'<tp>:<n>')."""
    for (topic, partition), state in partitions.items():
        tp = TopicPartition(topic, partition)
        for n, age in enumerate(sorted(state["ages"], reverse=True)):
            clock.now = 1000.0 - age
            batch = acc._append_batch(acc.create_builder(), tp)
            for r in range(state["records"] if n == 0 else 1):
                batch.append(f"{topic}{partition}:{n}:{r}".encode(), b"v", None)
            if n == 0 and state["closed"]:
                batch._builder.close()
    clock.now = 1000.0


def _drained(nodes: dict[int, dict[Any, Any]]) -> dict[int, set[TopicPartition]]:
    return {node: set(batches) for node, batches in nodes.items()}


@settings(deadline=None, max_examples=400)
@given(partitions=states, ignore=st.sets(st.sampled_from([1, 2, 3])))
def test_a_node_with_a_due_batch_sends_every_batch_it_leads_and_no_other_node_sends_early(
    partitions: dict[tuple[str, int], dict[str, Any]], ignore: set[int]
) -> None:
    """Any partitions' batches (leaders known or not, muted, in-flight nodes, empty, full, due or lingering)."""
    asyncio.run(_drain_example(partitions, ignore))


async def _drain_example(partitions: dict[tuple[str, int], dict[str, Any]], ignore: set[int]) -> None:
    """Both drains over the same accumulator state, the clock frozen; ours against the model."""
    clock = Clock()
    saved = message_accumulator.time
    message_accumulator.time = clock  # the module's clock, frozen for this example
    try:
        _check_drain(clock, partitions, ignore)
    finally:
        message_accumulator.time = saved


def _check_drain(clock: Clock, partitions: dict[tuple[str, int], dict[str, Any]], ignore: set[int]) -> None:
    leaders = {TopicPartition(t, p): s["leader"] for (t, p), s in partitions.items()}
    muted = frozenset(TopicPartition(t, p) for (t, p), s in partitions.items() if s["muted"])
    theirs, ours = _accumulator(leaders), _accumulator(leaders)
    _fill(theirs, clock, partitions)
    _fill(ours, clock, partitions)
    firsts = {tp: ours._batches[tp][0] for tp in ours._batches}
    their_nodes, their_unknown = ORIGINAL(theirs, ignore, muted)
    our_nodes, our_unknown = produce_drain.drain_by_nodes(ours, ignore, muted)

    # the model: a node is due when a first batch it leads (not muted, not ignored) is due; it sends them all
    eligible = {tp for tp, s in leaders.items() if s not in (None, -1) and s not in ignore and tp not in muted}
    due_nodes = {leaders[tp] for tp in eligible if not firsts[tp].remaining_linger()}
    expected = {
        node: {tp for tp in eligible if leaders[tp] == node and not firsts[tp].is_empty()} for node in due_nodes
    }
    assert _drained(our_nodes) == {node: tps for node, tps in expected.items() if tps}
    # aiokafka's due batches are among them, and what each sends is the partition's first batch
    for node, tps in _drained(their_nodes).items():
        assert tps <= expected[node]
    assert all(batch is firsts[tp] for batches in our_nodes.values() for tp, batch in batches.items())
    assert our_unknown == their_unknown
    # what stays keeps its order: a partition's batches less its first one when that was taken
    for tp, first in firsts.items():
        left = list(ours._batches.get(tp, ()))
        if tp in eligible:
            assert first not in left or left[0] is first
        else:  # untouched (or failed and popped, as aiokafka's)
            assert len(left) == len(theirs._batches.get(tp, ()))
    # an expired batch without a leader fails the same way; its partition's next batch stays
    for tp, first in firsts.items():
        if leaders[tp] in (None, -1) and tp not in muted and first.expired():
            error = NotLeaderForPartitionError if leaders[tp] is None else LeaderNotAvailableError
            assert isinstance(first.future.exception(), error)
    # the next wake-up: when the earliest batch left lingering is due, none when nothing lingers
    left_lingering = [
        remaining
        for tp, first in firsts.items()
        if tp in eligible and leaders[tp] not in due_nodes and (remaining := first.remaining_linger())
    ]
    handle = ours._wakeup_handle
    assert (handle is None) == (not left_lingering)
    if handle is not None:
        assert handle.when() == pytest.approx(asyncio.get_running_loop().time() + min(left_lingering), abs=0.05)


async def test_batches_not_yet_due_join_only_up_to_the_request_size(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    tps = [TopicPartition("t", p) for p in range(4)]
    acc = _accumulator(dict.fromkeys(tps, 1))
    for n, tp in enumerate(tps):
        clock.now = 1000.0 - (2 * LINGER if n == 0 else 0.001)
        acc._append_batch(acc.create_builder(), tp).append(b"k", b"x" * 1000, None)
    clock.now = 1000.0
    size = acc._batches[tps[0]][0]._builder.size()
    monkeypatch.setattr(produce_drain, "EARLY_REQUEST_BYTES", 2 * size)
    nodes, _ = produce_drain.drain_by_nodes(acc, set())
    assert list(nodes[1]) == tps[:2]  # the due one, and one more under the limit
    assert acc._wakeup_handle is not None  # the two left linger on their own clock


async def test_a_new_batch_wakes_the_sender_only_without_a_pending_wake_up(clock: Clock) -> None:
    a, b, c = (TopicPartition("t", p) for p in range(3))
    acc = _accumulator({a: 1, b: 1, c: 1})
    produce_drain.append_batch(acc, acc.create_builder(), a)
    assert acc.waiter().done()  # nothing lingered: the sender must look
    produce_drain.drain_by_nodes(acc, set())  # a lingers: a wake-up is armed for it
    assert acc._wakeup_handle is not None and not acc.waiter().done()
    clock.now += 0.001
    produce_drain.append_batch(acc, acc.create_builder(), b)
    assert not acc.waiter().done()  # b is due after a: a's wake-up drains it
    full = acc.create_builder()
    full.close()
    produce_drain.append_batch(acc, full, c)
    assert acc.waiter().done()  # a closed batch is due now


@settings(deadline=None, max_examples=150)
@given(seed=st.integers(0, 2**32 - 1), linger=st.sampled_from([0.0, 0.002, LINGER]))
def test_every_record_reaches_its_partition_once_in_order_and_by_the_end_of_its_linger(
    seed: int, linger: float
) -> None:
    """A sender's loop over random appends, clock steps and answers: per partition the records in append order.

    aiokafka's promise is kept: a record whose linger is over goes at the first drain where its node is free.
    """
    sent = {}
    for drain, append in ((ORIGINAL, ORIGINAL_APPEND), (produce_drain.drain_by_nodes, produce_drain.append_batch)):
        sent[drain] = asyncio.run(_simulate(random.Random(seed), linger, drain, append))
    theirs, ours = sent[ORIGINAL], sent[produce_drain.drain_by_nodes]
    assert ours == theirs  # the same records, each once, in append order per partition
    assert all(records == sorted(records) for records in ours.values())


async def _simulate(rng: random.Random, linger: float, drain: Any, append: Any) -> dict[TopicPartition, list[int]]:
    """Appends, drains (one request per node in flight, partitions muted until its answer), answers: what was sent."""
    saved = message_accumulator.time
    clock = Clock()
    message_accumulator.time = clock
    try:
        tps = [TopicPartition(t, p) for t in "ab" for p in range(3)]
        leaders = {tp: 1 + tp.partition % 2 for tp in tps}
        acc = _accumulator(leaders, linger)
        acc._append_batch = types.MethodType(append, acc)
        in_flight: dict[int, dict[Any, Any]] = {}
        sent: dict[TopicPartition, list[int]] = {tp: [] for tp in tps}
        appended: dict[int, tuple[TopicPartition, float]] = {}  # record → partition, append time (not yet sent)
        steps = [(rng.random(), rng.choice(tps), rng.choice([5e-4, 2e-3, 6e-3]), rng.choice([1, 2])) for _ in range(60)]
        for number, (step, tp, seconds, node) in enumerate(steps):  # the same plan whatever the drain does
            if step < 0.5:
                await acc.add_message(tp, f"{number:06d}".encode(), b"v", 1.0)
                appended[number] = (tp, clock.now)
            elif step < 0.7:
                clock.now += seconds
            else:
                in_flight.pop(node, None)  # the answer: the node and its partitions free again
            busy = set(in_flight)
            nodes, _ = drain(acc, busy, frozenset(tp for batches in in_flight.values() for tp in batches))
            for node, batches in nodes.items():
                in_flight[node] = batches
                for tp, batch in batches.items():
                    for key in _keys(batch):
                        sent[tp].append(key)
                        del appended[key]
            overdue = [
                n for n, (tp, at) in appended.items() if at + linger <= clock.now - 1e-9 and leaders[tp] not in busy
            ]
            assert not overdue  # lingered its time, its node free: it went in this drain
        while acc._batches or in_flight:  # the end: answers come, time passes, everything goes
            in_flight.clear()
            clock.now += 1.0
            for node, batches in drain(acc, set(), frozenset())[0].items():
                in_flight[node] = batches
                for tp, batch in batches.items():
                    sent[tp].extend(_keys(batch))
        return sent
    finally:
        message_accumulator.time = saved


def _keys(batch: Any) -> list[int]:
    """The numbers in the keys of a drained batch's records, in batch order."""
    return [int(record.key) for record in DefaultRecordBatch(bytes(batch.get_data_buffer()))]


def test_installed_by_faust_patches() -> None:
    faust_patches.install()
    assert MessageAccumulator.drain_by_nodes is produce_drain.drain_by_nodes
    assert MessageAccumulator._append_batch is produce_drain.append_batch
    assert produce_drain.install()  # idempotent
