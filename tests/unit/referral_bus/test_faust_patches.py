"""The workarounds of referral_bus/faust_patches.py, on plain objects shaped like Faust's and aiokafka's state."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode import Service

from referral_bus import faust_patches, fetch_actions

TP = TopicPartition("t.in.v1", 0)


def consumer(acked: list[int], committed: int | None) -> Any:
    state = SimpleNamespace(_acked=defaultdict(list), _committed_offset=defaultdict(lambda: None), _gap={})
    state._acked[TP] = acked
    state._committed_offset[TP] = committed
    return state


def guarded() -> Any:
    return faust_patches._held_new_offset(lambda self, tp: max(self._acked[tp]) + 1)


def test_a_hole_of_one_offset_at_the_head_holds_the_commit() -> None:
    # committed 5 means "5 is next": acks from 6 on do not say 5 was processed
    assert guarded()(consumer([6, 7, 8], 5), TP) is None


def test_contiguous_acks_from_the_committed_offset_commit() -> None:
    assert guarded()(consumer([5, 6, 7], 5), TP) == 8


def test_no_commit_yet_or_nothing_acked_is_left_to_faust() -> None:
    assert guarded()(consumer([3, 4], None), TP) == 5
    original_called: list[bool] = []

    def original(self: Any, tp: Any) -> None:
        original_called.append(True)

    assert faust_patches._held_new_offset(original)(consumer([], 5), TP) is None
    assert original_called == [True]


def test_install_is_idempotent_and_wraps_faust() -> None:
    faust_patches.install()
    getmany = Consumer.getmany
    faust_patches.install()
    assert Consumer.getmany is getmany
    assert getattr(Recovery.on_recovery_completed, "__wrapped__", None) is not None


def table(counts: dict[str, int | None]) -> Any:
    """A Faust table shaped object whose consumer knows these partition counts."""
    consumer = SimpleNamespace(topic_partitions=counts.get)
    return SimpleNamespace(
        app=SimpleNamespace(consumer=consumer),
        changelog_topic_name="app-t-changelog",
        name="t",
        _verified_source_topics_for_partitions=set(),
    )


def test_a_changelog_missing_from_the_metadata_snapshot_defers_the_partition_check() -> None:
    checked: list[str] = []
    verify = faust_patches._known_partitions_only(lambda self, topic: checked.append(topic))
    verify(table({"src": 4, "app-t-changelog": 0}), "src")  # 0 = not in the snapshot yet, not a mismatch
    assert checked == []
    verify(table({"src": 4, "app-t-changelog": 4}), "src")
    assert checked == ["src"]  # known counts: Faust's own check runs (and raises on a real mismatch)


async def test_the_worker_consumer_gets_the_fetch_settings_chosen_for_its_app() -> None:
    """Faust fixes fetch.min.bytes at 1 and fetch.max.wait.ms at 1,500; the patch applies the chosen ones."""
    from aiokafka import AIOKafkaConsumer

    def factory(self: Any, transport: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)

    create = faust_patches._fetch_settings(factory)

    class App:  # Faust apps are weakly referenced by the patch
        pass

    chosen, other = App(), App()
    faust_patches.fetch_settings(chosen, 16384, 20, (65536, 10))
    made = create(SimpleNamespace(app=chosen), None)
    assert (made._fetch_min_bytes, made._fetch_max_wait_ms) == (16384, 20)
    assert getattr(made._client, fetch_actions.GATHER) == (65536, 10)  # its fetcher gathers while records flow
    untouched = create(SimpleNamespace(app=other), None)  # an app without chosen settings: Faust's values
    assert (untouched._fetch_min_bytes, untouched._fetch_max_wait_ms) == (1, 1500)


class FakeAIOKafkaConsumer:
    """aiokafka's consumer as the patch uses it: seek_to_committed seeks only committed offsets above 0."""

    def __init__(self, committed: dict[TopicPartition, int | None], starts: dict[TopicPartition, int]) -> None:
        self.committed, self.starts = committed, starts
        self.positions: dict[TopicPartition, int | None] = {}

    async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
        for tp, offset in self.committed.items():
            if offset and offset > 0:
                self.positions[tp] = offset
        return self.committed

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.starts[tp] for tp in partitions}

    def assignment(self) -> set[TopicPartition]:
        return set(self.committed)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        # aiokafka's reset leaves the position unknown until the fetcher resolves it, and Faust's
        # livelock detector asserts on an unknown position: the worker's consumer crashes
        raise AssertionError("seek_to_beginning leaves the position unknown")


def consumer_thread(aio: FakeAIOKafkaConsumer) -> Any:
    """Faust's AIOKafkaConsumerThread as the patch uses it (call_thread runs the call at once)."""

    async def call_thread(fun: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return await fun(*args)

    faust_consumer = SimpleNamespace(_is_changelog_tp=lambda tp: tp.topic.endswith("-changelog"))
    return SimpleNamespace(consumer=faust_consumer, call_thread=call_thread, _ensure_consumer=lambda: aio)


async def test_stream_partitions_nothing_was_committed_on_are_read_again_from_their_first_offset() -> None:
    """Faust seeks to committed so that records fetched, then dropped by a rebalance, are fetched again.

    aiokafka does not seek a partition with nothing committed (None, or 0): its fetched records were
    lost. The patch seeks those to their first offset (an explicit one, never an unknown position);
    partitions with a commit and changelogs (recovery places them) are left where they are.
    """
    faust_patches.install()
    fresh, zero, done, trimmed = (TopicPartition("t.in.v1", p) for p in range(4))
    changelog = TopicPartition("app-t-changelog", 0)
    committed: dict[TopicPartition, int | None] = {fresh: None, zero: 0, done: 7, trimmed: None, changelog: None}
    aio = FakeAIOKafkaConsumer(committed, starts={fresh: 0, zero: 0, trimmed: 40, done: 0, changelog: 0})
    assert await AIOKafkaConsumerThread.seek_to_committed(consumer_thread(aio)) == committed
    # fetched records of every stream partition will be fetched again; a fetched record 0 is no longer lost
    assert aio.positions == {fresh: 0, zero: 0, done: 7, trimmed: 40}


async def test_faust_then_reads_a_partition_sought_to_its_start_as_not_read_yet() -> None:
    """After the seek Faust's own bookkeeping restarts there: no read offset (nothing dropped as already
    read), no committed offset (acks from the first offset on are taken, and committed)."""
    faust_patches.install()
    fresh, done = TopicPartition("t.in.v1", 0), TopicPartition("t.in.v1", 1)
    aio = FakeAIOKafkaConsumer({fresh: None, done: 7}, starts={fresh: 0, done: 0})
    thread = consumer_thread(aio)
    state = SimpleNamespace(
        _read_offset=defaultdict(lambda: None, {fresh: 2}),  # records 0 and 1 fetched, then dropped
        _committed_offset=defaultdict(lambda: None),
        _acked=defaultdict(list),
        _acked_index=defaultdict(set),
        _gap=defaultdict(list),
        _thread=thread,
    )

    async def seek_to_committed() -> Any:
        return await AIOKafkaConsumerThread.seek_to_committed(thread)

    state.seek_to_committed = seek_to_committed
    await Consumer.perform_seek(cast(Any, state))
    assert aio.positions[fresh] == 0
    assert (state._read_offset[fresh], state._committed_offset[fresh]) == (None, None)
    assert (state._read_offset[done], state._committed_offset[done]) == (7, 7)
    # the records read again from 0 are acknowledged and committed (the commit is not held)
    state._acked[fresh], state._acked_index[fresh] = [0, 1, 2], {0, 1, 2}
    assert Consumer._new_offset(cast(Any, state), fresh) == 3


class Fetcher(Service):
    """A mode service, as Faust's consumer is: `wait_first` is mode's, the patch's `original`."""


def inline_wait_first() -> Callable[..., Awaitable[Any]]:
    return faust_patches._inline_delivery(Service.wait_first)


async def test_a_delivery_that_does_not_wait_runs_inline_without_tasks() -> None:
    """Faust made four tasks per fetched record for a queue put that does not wait; none are made now."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    suspend = asyncio.Event()
    made: list[Any] = []
    loop = asyncio.get_running_loop()
    loop.set_task_factory(lambda loop, coro, **kw: made.append(coro) or asyncio.Task(coro, loop=loop, **kw))
    try:

        async def deliver(n: int) -> int:
            queue.put_nowait(n)
            return n

        result = await inline_wait_first()(Fetcher(), deliver(7), suspend.wait())
    finally:
        loop.set_task_factory(None)
    assert queue.get_nowait() == 7
    assert (list(result.results), result.stopped) == ([7], False)
    assert made == []


async def test_a_delivery_that_waits_is_finished_or_abandoned_as_faust_does() -> None:
    """A full stream buffer: the put completes once there is room, or is abandoned when flow is suspended."""
    fetcher = Fetcher()
    full: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    full.put_nowait(0)
    suspend = asyncio.Event()
    waiting = asyncio.ensure_future(inline_wait_first()(fetcher, full.put(1), suspend.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert full.get_nowait() == 0  # room: the delivery finishes
    result = await asyncio.wait_for(waiting, 5)
    assert full.get_nowait() == 1 and result.results == [None]

    full.put_nowait(2)
    waiting = asyncio.ensure_future(inline_wait_first()(fetcher, full.put(3), suspend.wait()))
    await asyncio.sleep(0.01)
    suspend.set()  # rebalance: Faust stops waiting for the delivery and drops it
    await asyncio.wait_for(waiting, 5)
    await asyncio.sleep(0.01)
    assert full.get_nowait() == 2 and full.empty()


async def test_a_failing_delivery_raises_as_in_faust() -> None:
    async def deliver() -> None:
        raise ValueError("undecodable")

    suspend = asyncio.Event()
    with pytest.raises(ValueError, match="undecodable"):
        await inline_wait_first()(Fetcher(), deliver(), suspend.wait())
