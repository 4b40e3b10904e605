"""Table.send_changelog: Faust's bytes, the named partition, write order, straight to the started producer."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.stores.memory import Store
from faust.types import FutureMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.inflight import Pending, current
from referral_bus.tables import flush_changelog
from tests.support.tables import JSON, Client, direct_table


@settings(deadline=None, max_examples=80)
@given(key=st.text(), value=JSON, partition=st.integers(0, 7), tombstone=st.booleans())
def test_the_record_handed_over_is_the_one_faust_would_have_sent(
    key: str, value: Any, partition: int, tombstone: bool
) -> None:
    async def run() -> None:
        client = Client()
        t = direct_table("direct-bytes", client)
        serializer: Any = "raw" if tombstone else None
        written = None if tombstone else value
        assert await t.send_changelog(partition, key, written, value_serializer=serializer) == 1
        serializer = t.value_serializer if serializer is None else serializer
        theirs = t.changelog_topic.as_future_message(
            key=key, value=written, partition=partition, key_serializer=t.key_serializer, value_serializer=serializer
        ).message
        assert client.got == [("direct-bytes-t-changelog", theirs.key, theirs.value, partition)]
        assert theirs.headers == {}  # Faust sends none either

    asyncio.run(run())


@settings(deadline=None, max_examples=60)
@given(ops=st.lists(st.tuples(st.integers(0, 3), st.sampled_from("abc"), st.integers(0, 9)), max_size=20))
def test_an_events_records_go_to_their_partitions_in_write_order(ops: list[tuple[int, str, int]]) -> None:
    """Outside an event each write goes at once; inside, one per key at the flush: either way in write order."""

    async def run() -> None:
        client = Client()
        t = direct_table("direct-order", client)
        for partition, key, value in ops:
            t.put_in(partition, key, value)
        outside = [(p, f'"{k}"'.encode(), str(v).encode()) for p, k, v in ops]
        assert [(p, k, v) for _, k, v, p in client.got] == outside
        client.got.clear()
        pending = Pending()
        token = current.set(pending)
        try:
            for partition, key, value in ops:
                t.put_in(partition, key, value)
            flush_changelog(pending)
        finally:
            current.reset(token)
        last = {(p, k): t.data[k] for p, k, _ in ops}
        first_write = list(dict.fromkeys((p, k) for p, k, _ in ops))
        inside = [(p, f'"{k}"'.encode(), str(last[(p, k)]).encode()) for p, k in first_write]
        assert [(p, k, v) for _, k, v, p in client.got] == inside
        assert await asyncio.gather(*pending.sends) == list(range(1, len(inside) + 1))  # the ack waits for them

    asyncio.run(run())


async def test_before_the_producer_started_faust_sends_it() -> None:
    t = direct_table("direct-unstarted", None)
    sent = t.send_changelog(0, "k", 1)
    assert isinstance(sent, FutureMessage)
    assert t.app.producer.buffer.size == 1
    client = Client()
    t.app.producer._producer = client  # type: ignore[attr-defined]  # the driver's attribute, not ProducerT's
    assert isinstance(t.send_changelog(0, "k", 2), FutureMessage)  # Faust's buffer is not empty: behind it
    assert client.got == []


async def test_a_store_that_keeps_persisted_offsets_keeps_faust_path() -> None:
    class Persisting(Store[str, Any]):
        def set_persisted_offset(self, tp: Any, offset: int) -> None:
            pass

    client = Client()
    t = direct_table("direct-persisting", client)
    t._data = Persisting(url="memory://", app=t.app, table=t)
    assert isinstance(t.send_changelog(0, "k", 1), FutureMessage)
    assert client.got == []
