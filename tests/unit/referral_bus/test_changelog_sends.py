"""changelog_sends: records reach the producer in write order, each future is its own record's acknowledgement."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.changelog_sends import OrderedSends
from referral_bus.inflight import InFlight, Pending


class Producer:
    """aiokafka's `send` as it behaves: awaits (metadata, a full batch) before appending, then returns a future."""

    def __init__(self, pauses: dict[bytes, int] | None = None, gate: asyncio.Future[None] | None = None) -> None:
        self.pauses = pauses or {}  # value → how many times its send suspends before the append
        self.gate = gate  # when set, a send that pauses waits for it (a full batch draining)
        self.appended: list[tuple[str, bytes | None, bytes | None, int]] = []
        self.acks: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, value: bytes | None, *, key: bytes | None, partition: int) -> asyncio.Future[Any]:
        for _ in range(self.pauses.get(value or b"", 0)):
            if self.gate is not None:
                await self.gate
            await asyncio.sleep(0)
        if value == b"refused":
            raise RuntimeError("producer closed")
        self.appended.append((topic, key, value, partition))
        ack = asyncio.get_running_loop().create_future()
        ack.set_result(("metadata", topic, partition, len(self.appended) - 1, value))
        self.acks.append(ack)
        return ack


WRITES = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from([b"a", b"b", b"c"]), st.integers(0, 3), st.booleans()),
    max_size=25,
)


@settings(deadline=None, max_examples=200)
@given(writes=WRITES)
def test_records_reach_the_producer_in_write_order_whatever_sends_suspend(
    writes: list[tuple[int, bytes, int, bool]],
) -> None:
    """Any mix of sends that complete at once and sends that suspend (0-3 times), with the loop running in between."""

    async def run() -> None:
        values = [f"v{i}".encode() for i in range(len(writes))]
        producer = Producer({v: pauses for v, (_, _, pauses, _) in zip(values, writes, strict=True)})
        sends = OrderedSends(producer)
        futures = []
        for value, (partition, key, _, yield_after) in zip(values, writes, strict=True):
            futures.append(sends.send("ns.t-changelog", key, value, partition))
            if yield_after:  # the worker goes on with other events meanwhile
                await asyncio.sleep(0)
        results = await asyncio.gather(*futures)
        expected = [("ns.t-changelog", key, value, p) for value, (p, key, _, _) in zip(values, writes, strict=True)]
        assert producer.appended == expected  # every record once, in write order
        assert [r[4] for r in results] == values  # each future is its own record's acknowledgement
        assert sends.waiting() == 0

    asyncio.run(run())


async def test_a_send_that_completes_at_once_returns_aiokafkas_own_future() -> None:
    producer = Producer()
    sent = OrderedSends(producer).send("t", b"k", b"v", 2)
    assert sent is producer.acks[0]
    assert producer.appended == [("t", b"k", b"v", 2)]


async def test_a_refused_record_fails_its_own_future_and_the_next_ones_go_on() -> None:
    for pauses in (0, 2):  # refused at once, or refused after it suspended (later records queued behind it)
        producer = Producer({b"refused": pauses})
        sends = OrderedSends(producer)
        refused, after = sends.send("t", b"k", b"refused", 0), sends.send("t", b"k", b"v", 0)
        with pytest.raises(RuntimeError, match="producer closed"):
            await refused
        assert (await after)[4] == b"v"
        assert producer.appended == [("t", b"k", b"v", 0)]


async def test_records_queued_behind_a_send_cancelled_at_stop_are_cancelled() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    producer = Producer({b"1": 1}, gate)
    sends = OrderedSends(producer)
    first, second = sends.send("t", b"k", b"1", 0), sends.send("t", b"k", b"2", 0)
    await asyncio.sleep(0)
    assert sends._task is not None
    sends._task.cancel()
    await asyncio.sleep(0)
    assert first.cancelled() and second.cancelled()
    assert producer.appended == [] and sends.waiting() == 0


async def test_an_event_is_not_acknowledged_while_its_changelog_record_waits_to_be_handed_over() -> None:
    """The commit follows the acks (in order): an event whose record is queued behind a full batch is not acked."""
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    producer = Producer({b"full": 1}, gate)
    sends = OrderedSends(producer)
    inflight, acked = InFlight(10), list[int]()
    for i, value in enumerate((b"full", b"next")):
        pending = Pending()
        pending.sends.append(sends.send("t", b"k", value, 0))  # what flush_changelog appends
        task = asyncio.ensure_future(asyncio.gather(*pending.sends))
        inflight.add(pending, task, functools.partial(acked.append, i))
    for _ in range(5):
        await asyncio.sleep(0)
    assert acked == [] and producer.appended == [] and sends.waiting() == 1
    gate.set_result(None)
    for _ in range(10):
        await asyncio.sleep(0)
    assert acked == [0, 1]
    assert [r[2] for r in producer.appended] == [b"full", b"next"]
