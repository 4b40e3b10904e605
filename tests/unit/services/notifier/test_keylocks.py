"""KeyLocks: one handling at a time per referral id on a worker, other ids never wait, nothing leaks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


class _ContextlibKeyLocks:
    """KeyLocks as it was before `_Hold` (contextlib's generator), verbatim: the oracle for the schedules below."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


# one task per item: (key, steps it holds the lock, step at which the test cancels it or None, raises in its body)
_TASKS = st.lists(
    st.tuples(st.sampled_from("abc"), st.integers(0, 3), st.none() | st.integers(0, 6), st.booleans()),
    min_size=1,
    max_size=8,
)


def _schedule(locks: Any, tasks: list[tuple[str, int, int | None, bool]]) -> list[tuple[Any, ...]]:
    """What happens, step by step: who is in, out, failed or cancelled, and how many keys have a lock."""
    trace: list[tuple[Any, ...]] = []

    async def one(i: int, key: str, steps: int, fail: bool) -> None:
        try:
            async with locks.hold(key):
                trace.append(("in", i, len(locks)))
                for _ in range(steps):
                    await asyncio.sleep(0)
                if fail:
                    raise RuntimeError(i)
            trace.append(("out", i, len(locks)))
        except RuntimeError:
            trace.append(("failed", i, len(locks)))
        except asyncio.CancelledError:
            trace.append(("cancelled", i, len(locks)))
            raise

    async def main() -> None:
        running = [asyncio.create_task(one(i, k, s, f)) for i, (k, s, _, f) in enumerate(tasks)]
        for step in range(8):
            for i, (_, _, cancel_at, _) in enumerate(tasks):
                if cancel_at == step:
                    running[i].cancel()
            await asyncio.sleep(0)
            trace.append(("step", step, len(locks)))
        await asyncio.gather(*running, return_exceptions=True)
        trace.append(("end", len(locks)))

    asyncio.run(main())
    return trace


@settings(max_examples=300, deadline=None)
@given(_TASKS)
def test_every_schedule_runs_as_with_the_contextlib_version(tasks: list[tuple[str, int, int | None, bool]]) -> None:
    expected = _schedule(_ContextlibKeyLocks(), tasks)
    assert _schedule(KeyLocks(), tasks) == expected
    assert expected[-1] == ("end", 0)  # and nothing is left behind


async def test_a_waiter_cancelled_leaves_no_trace_and_the_holder_keeps_the_lock() -> None:
    locks = KeyLocks()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("r1"):
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert len(locks) == 1  # only the holder's
    release.set()
    await first
    assert len(locks) == 0
