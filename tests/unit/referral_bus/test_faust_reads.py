"""Faust's per-record settings reads made once: the same buffer sizes, the same ebb, the configured event type."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.producer import ProducerBuffer
from hypothesis import given
from hypothesis import strategies as st

from referral_bus import faust_reads


class _Conf:
    """A Faust app's settings that count how often each is read."""

    def __init__(self, *, threaded: bool, event_type: Any = faust.Event) -> None:
        self.reads: dict[str, int] = {}
        self._threaded, self._event_type = threaded, event_type

    def _read(self, name: str) -> None:
        self.reads[name] = self.reads.get(name, 0) + 1

    @property
    def producer_threaded(self) -> bool:
        self._read("producer_threaded")
        return self._threaded

    @property
    def Event(self) -> Any:
        self._read("Event")
        return self._event_type


class _App:
    def __init__(self, conf: _Conf) -> None:
        self.conf = conf


def _buffer(conf: _Conf) -> Any:
    assert faust_reads.install()
    buffer: Any = ProducerBuffer()
    buffer.app = _App(conf)
    return buffer


@given(st.lists(st.booleans(), max_size=300))
def test_the_size_is_the_queued_records_and_the_setting_is_read_once(steps: list[bool]) -> None:
    """Any sequence of puts (True) and takes (False): the size Faust's own code gives, one settings read in all."""
    conf = _Conf(threaded=False)
    buffer = _buffer(conf)
    queued = 0
    for put in steps:
        if put:
            buffer.pending.put_nowait(object())
            queued += 1
        elif queued:
            buffer.pending.get_nowait()
            queued -= 1
        assert buffer.size == queued == faust_reads._ORIGINAL_SIZE.fget(buffer)
    assert buffer.size == queued
    assert conf.reads.get("producer_threaded", 0) <= 1 + len(steps)  # Faust's own reads above: one per step
    conf.reads.clear()
    for _ in range(5):
        assert buffer.size == queued
    assert conf.reads == {}  # ours: read once, before


def test_a_threaded_producer_buffer_is_measured_by_faust() -> None:
    buffer = _buffer(_Conf(threaded=True))
    assert buffer.size == 0  # no thread queue yet: Faust's own answer
    buffer.queue = asyncio.Queue()
    buffer.queue.put_nowait(object())
    buffer.pending.put_nowait(object())
    buffer.pending.put_nowait(object())
    assert buffer.size == 1  # the thread's queue, not `pending`


def test_the_buffer_still_ebbs_when_full() -> None:
    """Over `max_messages` records: the stream waits for a flush down to it; at or under it: no flush."""
    buffer = _buffer(_Conf(threaded=False))
    flushed: list[int | None] = []

    async def flush_atmost(max_messages: int | None) -> int:
        flushed.append(max_messages)
        while buffer.pending.qsize() > (max_messages or 0):
            buffer.pending.get_nowait()
        return 0

    buffer.flush_atmost = flush_atmost
    for _ in range(buffer.max_messages):
        buffer.pending.put_nowait(object())
    asyncio.run(buffer.wait_until_ebb())
    assert flushed == []
    buffer.pending.put_nowait(object())
    asyncio.run(buffer.wait_until_ebb())
    assert flushed == [buffer.max_messages]
    assert buffer.size == buffer.max_messages


class _Event(faust.Event):
    """A configured event type."""


def test_events_are_of_the_configured_type_read_once_per_app() -> None:
    assert faust_reads.install()
    conf = _Conf(threaded=False, event_type=_Event)
    app: Any = _App(conf)
    events = [faust.App.create_event(app, b"k", b"v", [], None) for _ in range(3)]  # type: ignore[arg-type]  # stand-in app
    assert all(type(event) is _Event and event.key == b"k" and event.value == b"v" for event in events)
    assert conf.reads == {"Event": 1}


def test_a_real_apps_events_and_buffer() -> None:
    assert faust_reads.install()
    app = faust.App("faust-reads-test", broker="kafka://127.0.0.1:9", autodiscover=False)
    event = app.create_event(b"k", b"v", [], None)  # type: ignore[arg-type]  # no message needed to build an event
    configured: Any = app.conf.Event
    assert type(event) is configured and event.value == b"v"
    assert app.producer.buffer.size == 0


def test_install_is_idempotent() -> None:
    assert faust_reads.install()
    size = ProducerBuffer.__dict__["size"]
    assert faust_reads.install()
    assert ProducerBuffer.__dict__["size"] is size
    create_event: Any = faust.App.create_event
    assert create_event is faust_reads._create_event
