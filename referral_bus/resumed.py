"""`Resumed`: the rest of a coroutine already stepped in place to its first suspension, awaitable.

Stepping a coroutine with `send(None)` runs it without a task while it does not wait (faust_patches'
inline delivery, changelog_sends' direct hand-off); when it does wait, `Resumed` lets a task finish it.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Resumed:
    """The rest of `coro`, which yielded `first` when stepped: awaiting this finishes it where it stopped."""

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        out = self.first  # what the coroutine waits on: the task running this waits on it in its place
        while True:
            try:
                into = yield out
            except GeneratorExit:
                self.coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - passed on into the coroutine (a cancellation among them)
                try:
                    out = self.coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    out = self.coro.send(into)
                except StopIteration as done:
                    return done.value
