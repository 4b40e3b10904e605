"""`inflight.outcomes`: an event's sends settled as `asyncio.gather(..., return_exceptions=True)` settles them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.inflight import outcomes

CANCEL = object()  # the send's own future is cancelled
OUTCOMES = st.integers(0, 9) | st.sampled_from(["refused", "timed out"]) | st.just(CANCEL)  # str: raised


async def _gather(sends: Sequence[Awaitable[Any]]) -> list[Any]:
    return await asyncio.gather(*sends, return_exceptions=True)


def _shown(results: list[Any]) -> list[Any]:
    """Results comparable across the two: an exception by its type and arguments (a cancellation by its type)."""
    shown: list[Any] = []
    for r in results:
        if isinstance(r, asyncio.CancelledError):
            shown.append("cancelled")
        elif isinstance(r, BaseException):
            shown.append((type(r).__name__, r.args))
        else:
            shown.append(r)
    return shown


def _settle(
    collect: Callable[[Sequence[Awaitable[Any]]], Awaitable[list[Any]]],
    plan: list[Any],
    order: list[int],
    pauses: set[int],
) -> list[Any]:
    """Sends with `plan`'s outcomes, ended in `order` (the loop turning after the positions in `pauses`), collected."""

    async def run() -> list[Any]:
        loop = asyncio.get_running_loop()
        sends = [loop.create_future() for _ in plan]
        collecting = asyncio.ensure_future(collect(sends))
        await asyncio.sleep(0)
        for at, i in enumerate(order):
            outcome = plan[i]
            if outcome is CANCEL:
                sends[i].cancel()
            elif isinstance(outcome, str):
                sends[i].set_exception(ConnectionError(outcome))
            else:
                sends[i].set_result(outcome)
            if at in pauses:
                await asyncio.sleep(0)
        return _shown(await collecting)

    return asyncio.run(run())


@settings(deadline=None, max_examples=150)
@given(
    st.lists(OUTCOMES, max_size=7).flatmap(lambda plan: st.tuples(st.just(plan), st.permutations(range(len(plan))))),
    st.sets(st.integers(0, 6)),
)
def test_the_same_outcomes_in_the_same_order_as_gather(
    plan_order: tuple[list[Any], list[int]], pauses: set[int]
) -> None:
    plan, order = plan_order
    assert _settle(outcomes, plan, order, pauses) == _settle(_gather, plan, order, pauses)


async def test_cancelling_the_wait_cancels_it_as_gather_does_and_nothing_is_returned() -> None:
    for collect in (_gather, outcomes):
        loop = asyncio.get_running_loop()
        sends = [loop.create_future(), loop.create_future()]
        waiting = asyncio.ensure_future(collect(sends))
        await asyncio.sleep(0)
        waiting.cancel()  # the worker stops while an event's sends are out
        await asyncio.sleep(0)
        for send in sends:
            if not send.done():
                send.set_result(1)
        await asyncio.sleep(0)
        assert waiting.cancelled(), collect.__name__
