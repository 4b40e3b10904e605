"""InFlight: offsets are released strictly in arrival order, never past an unfinished event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar

import pytest

from referral_bus.inflight import InFlight, Pending


def _futures(n: int) -> list[asyncio.Future[bool]]:
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(n)]


def _events(inflight: InFlight, n: int) -> tuple[list[asyncio.Future[bool]], list[int]]:
    """`n` events added to `inflight` in order: their futures, and the list each one's ack appends its index to."""
    futs, acked = _futures(n), []
    for i, fut in enumerate(futs):
        inflight.add(Pending(), fut, lambda i=i: acked.append(i))
    return futs, acked


async def _finish(inflight: InFlight, events: list[tuple[Pending, Callable[[], None]]], order: list[int]) -> None:
    """Add `events` (staged state, ack) to `inflight` in order, finish them in `order`, let their callbacks run."""
    futs = _futures(len(events))
    for (pending, ack), fut in zip(events, futs, strict=True):
        inflight.add(pending, fut, ack)
    for i in order:
        futs[i].set_result(True)
    await asyncio.sleep(0)


async def test_acks_follow_arrival_order_whatever_order_events_finish_in() -> None:
    inflight = InFlight(10)
    futs, acked = _events(inflight, 3)
    futs[2].set_result(True)
    futs[1].set_result(True)
    await asyncio.sleep(0)
    assert acked == []  # event 0 is not finished: nothing after it may be released
    futs[0].set_result(True)
    await asyncio.sleep(0)
    assert acked == [0, 1, 2]
    assert len(inflight) == 0


async def test_a_cancelled_event_blocks_every_later_ack() -> None:
    inflight = InFlight(10)
    futs, acked = _events(inflight, 3)
    futs[0].set_result(True)
    futs[1].cancel()  # the worker is stopping in the middle of event 1
    futs[2].set_result(True)
    await asyncio.sleep(0)
    assert acked == [0]


async def test_an_event_that_raised_stops_acks_and_calls_for_a_restart() -> None:
    broken: list[bool] = []
    inflight = InFlight(10, on_broken=lambda: broken.append(True))
    futs, acked = _events(inflight, 2)
    futs[0].set_exception(RuntimeError("bug"))
    futs[1].set_result(True)
    await asyncio.sleep(0)
    assert acked == []
    assert broken == [True]


async def test_state_callbacks_run_in_order_before_the_ack() -> None:
    log: list[str] = []
    inflight = InFlight(10)
    ok, bad = Pending(), Pending(outcome="dead_lettered")
    ok.on_sent.append(lambda: log.append("ok: sent"))
    ok.on_failed.append(lambda: log.append("ok: failed"))
    bad.on_sent.append(lambda: log.append("bad: sent"))
    bad.on_failed.append(lambda: log.append("bad: failed"))
    await _finish(inflight, [(ok, lambda: log.append("ack ok")), (bad, lambda: log.append("ack bad"))], [1, 0])
    # state callbacks in arrival order (their writes queued in that order), each ack after its own callbacks
    assert log == ["ok: sent", "bad: failed", "ack ok", "ack bad"]


async def test_a_failing_state_callback_is_not_swallowed_no_ack_and_a_restart() -> None:
    acked: list[int] = []
    broken: list[bool] = []
    inflight = InFlight(10, on_broken=lambda: broken.append(True))
    pending = Pending()

    def boom() -> None:
        raise KeyError("table")

    pending.on_sent.append(boom)
    await _finish(inflight, [(Pending(), lambda: acked.append(0)), (pending, lambda: acked.append(1))], [0, 1])
    assert acked == [0] and broken == [True]  # the failed write's event is never acknowledged


async def test_the_ack_waits_until_the_state_write_is_on_the_broker() -> None:
    loop = asyncio.get_running_loop()
    log: list[str] = []
    inflight = InFlight(10)
    write, later = loop.create_future(), Pending()
    first = Pending()
    first.on_sent.append(lambda: write)  # the changelog send of the event's staged write
    later.on_sent.append(lambda: log.append("later: state written"))
    await _finish(
        inflight, [(first, lambda: log.append("ack first")), (later, lambda: log.append("ack later"))], [0, 1]
    )
    # the later event's state is queued behind the first one's (order kept), but no ack passes the write
    assert log == ["later: state written"]
    write.set_result(None)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert log == ["later: state written", "ack first", "ack later"]


async def test_a_state_write_the_broker_refuses_stops_acks_and_calls_for_a_restart() -> None:
    loop = asyncio.get_running_loop()
    acked: list[int] = []
    broken: list[bool] = []
    inflight = InFlight(10, on_broken=lambda: broken.append(True))
    write, pending = loop.create_future(), Pending()
    pending.on_sent.append(lambda: write)
    fut = _futures(1)[0]
    inflight.add(pending, fut, lambda: acked.append(0))
    fut.set_result(True)
    await asyncio.sleep(0)
    write.set_exception(OSError("broker"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert acked == [] and broken == [True]


async def test_stopping_releases_every_staging_not_yet_written() -> None:
    released: list[int] = []
    inflight = InFlight(10)
    futs = _futures(3)
    for i, fut in enumerate(futs):
        pending = Pending()
        pending.on_failed.append(lambda i=i: released.append(i))
        inflight.add(pending, fut, lambda: None)
    futs[0].cancel()  # the worker stops with all three in flight
    await asyncio.sleep(0)
    assert sorted(released) == [0, 1, 2]


async def test_back_pressure_at_the_limit() -> None:
    inflight = InFlight(2)
    futs = _futures(2)
    for fut in futs:
        inflight.add(Pending(), fut, lambda: None)
    waiter = asyncio.ensure_future(inflight.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    futs[0].set_result(True)
    await asyncio.wait_for(waiter, 5)
    assert len(inflight) == 1


@pytest.mark.parametrize("limit", [1, 3])
async def test_limit_is_respected(limit: int) -> None:
    inflight = InFlight(limit)
    for fut in _futures(limit):
        inflight.add(Pending(), fut, lambda: None)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(inflight.wait_for_room(), 0.05)


async def test_state_callbacks_run_in_the_context_their_event_was_taken_in() -> None:
    # Faust takes a table write's changelog partition from the current event (a context variable):
    # the callbacks of event 0, drained when event 1 ends, must still see event 0.
    event: ContextVar[str | None] = ContextVar("event", default=None)
    seen: list[str | None] = []
    inflight = InFlight(10)
    futs = _futures(2)
    for i, fut in enumerate(futs):
        event.set(f"event {i}")
        pending = Pending()
        pending.on_sent.append(lambda: seen.append(event.get()))
        inflight.add(pending, fut, lambda: None)
    event.set(None)
    futs[1].set_result(True)  # event 0 is not finished: nothing drains
    futs[0].set_result(True)  # event 0's end drains both, in event 0's done callback
    await asyncio.sleep(0)
    assert seen == ["event 0", "event 1"]
