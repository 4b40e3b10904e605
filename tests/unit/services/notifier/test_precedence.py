"""Precedence between lanes on one worker: other lanes start nothing while an urgent referral is in hand."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.precedence import Precedence


async def test_another_lane_waits_until_the_urgent_event_is_done() -> None:
    p, order = Precedence(max_wait_s=5.0), []
    release = asyncio.Event()

    async def urgent() -> None:
        async with p.urgent():
            await release.wait()
            order.append("urgent")

    async def standard() -> None:
        await p.wait_turn()
        order.append("standard")

    u = asyncio.ensure_future(urgent())
    await asyncio.sleep(0)
    s = asyncio.ensure_future(standard())
    await asyncio.sleep(0.05)
    assert order == [] and p.waits == 1  # the standard event has not started
    release.set()
    await asyncio.gather(u, s)
    assert order == ["urgent", "standard"]


async def test_no_urgent_event_means_no_wait_and_a_long_one_only_delays() -> None:
    p = Precedence(max_wait_s=0.05)
    await p.wait_turn()  # nothing urgent: at once
    assert p.waits == 0
    async with p.urgent():
        await asyncio.wait_for(p.wait_turn(), 1.0)  # at most max_wait_s: a slow urgent delivery never stops a lane
    assert p.waits == 1 and p.in_progress == 0


async def test_zero_means_no_precedence() -> None:
    p = Precedence(max_wait_s=0)
    async with p.urgent():
        await asyncio.wait_for(p.wait_turn(), 0.01)
    assert p.waits == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=12))
def test_the_count_returns_to_zero_whatever_fails(fails: list[bool]) -> None:
    """Urgent events that raise or finish, in any mix: afterwards nobody waits."""

    async def scenario() -> None:
        p = Precedence(max_wait_s=5.0)

        async def one(fail: bool) -> None:
            async with p.urgent():
                await asyncio.sleep(0)
                if fail:
                    raise RuntimeError("delivery failed")

        await asyncio.gather(*(one(f) for f in fails), return_exceptions=True)
        assert p.in_progress == 0
        await asyncio.wait_for(p.wait_turn(), 0.01)

    asyncio.run(scenario())
