"""A table read through values staged in memory until the outputs they stand for are durable."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any


class Staged:
    """Reads see staged values first; `commit` writes one to the table, `discard` forgets it.

    Why: a dedup mark or a correlation claim written to its (changelogged) table before the case it
    stands for is on the broker would make a replay skip that case after a crash. Staging keeps the
    mark visible to the next events on this worker at once, and durable only after the outputs.
    A key staged twice stays staged until both are committed or discarded.
    """

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self._staged: dict[str, tuple[Any, int]] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """The staged value of `key`, else the table's, else `default`."""
        if key in self._staged:
            return self._staged[key][0]
        return self.table.get(key, default)

    def stage(self, key: str, value: Any) -> None:
        """Make `value` visible to reads on this worker, not yet durable."""
        _, users = self._staged.get(key, (None, 0))
        self._staged[key] = (value, users + 1)

    def commit(self, key: str, value: Any) -> None:
        """Write `value` (staged before) to the table."""
        self.table[key] = value
        self._unstage(key)

    def discard(self, key: str) -> None:
        """Forget one staging of `key` (its outputs were not written)."""
        self._unstage(key)

    def staged(self) -> int:
        """How many keys are staged right now."""
        return len(self._staged)

    def _unstage(self, key: str) -> None:
        value, users = self._staged.get(key, (None, 0))
        if users <= 1:
            self._staged.pop(key, None)
        else:
            self._staged[key] = (value, users - 1)
