"""KeyLocks: one handling at a time per referral id on a worker, other ids never wait, nothing leaks."""

from __future__ import annotations

import asyncio

import pytest

from services.notifier.keylocks import KeyLocks


async def test_same_key_is_serialised_and_other_keys_are_not() -> None:
    locks = KeyLocks()
    order: list[str] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with locks.hold("r1"):
            order.append("first in")
            first_in.set()
            await release_first.wait()
            order.append("first out")

    async def second() -> None:
        async with locks.hold("r1"):
            order.append("second in")

    async def other() -> None:
        async with locks.hold("r2"):
            order.append("other in")

    t1 = asyncio.create_task(first())
    await first_in.wait()
    t2 = asyncio.create_task(second())
    await other()  # a different key goes through while r1 is held
    await asyncio.sleep(0)
    assert order == ["first in", "other in"]
    assert len(locks) == 1  # r1 held and awaited; r2 already dropped
    release_first.set()
    await asyncio.gather(t1, t2)
    assert order == ["first in", "other in", "first out", "second in"]
    assert len(locks) == 0


async def test_the_lock_is_dropped_when_the_body_raises() -> None:
    locks = KeyLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("r1"):
            raise RuntimeError("handler failed")
    assert len(locks) == 0
    async with locks.hold("r1"):  # and the key is usable again
        assert len(locks) == 1
