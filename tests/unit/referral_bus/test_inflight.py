"""InFlight: offsets are released strictly in arrival order, never past an unfinished event."""

from __future__ import annotations

import asyncio
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
    futs = _futures(2)
    inflight.add(ok, futs[0], lambda: log.append("ack ok"))
    inflight.add(bad, futs[1], lambda: log.append("ack bad"))
    futs[1].set_result(True)
    futs[0].set_result(True)
    await asyncio.sleep(0)
    assert log == ["ok: sent", "ack ok", "bad: failed", "ack bad"]


async def test_a_failing_state_callback_does_not_hold_the_partition() -> None:
    acked: list[int] = []
    inflight = InFlight(10)
    pending = Pending()

    def boom() -> None:
        raise KeyError("table")

    pending.on_sent.append(boom)
    fut = _futures(1)[0]
    inflight.add(pending, fut, lambda: acked.append(0))
    fut.set_result(True)
    await asyncio.sleep(0)
    assert acked == [0]


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
