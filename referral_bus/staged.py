"""Staged state: a table write that lands after the current event's sends are acknowledged, dropped on failure."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from referral_bus.inflight import after_sends
from referral_bus.tables import delete, write

_DELETED: Any = object()  # a staged delete: the key reads as absent until it lands or is dropped


class StagedTable:
    """A table read through the values this worker staged; the one way services write "done" marks.

    Why: a dedup mark, a correlation claim or a delivered-once mark written to its (changelogged) table
    before the outputs it stands for are on the broker would make a replay skip them after a crash.
    `write_after_sends` makes the value visible to the next events on this worker at once, and durable
    only once every send of the current event is acknowledged; if a send fails (the event is
    dead-lettered) the value is dropped. A key staged twice stays staged until both writes end.

    Correct by construction: the write runs in its own event's context (so Faust puts it in that
    event's changelog partition), in the order the events arrived, and the event is acknowledged only
    once the write is on the broker; a write that fails stops the worker before the acknowledgement
    (the event is replayed), and every staging ends, written or dropped (inflight.py).
    """

    def __init__(self, table: MutableMapping[str, Any], merge: Callable[[Any, Any], Any] | None = None) -> None:
        self.table = table
        # merge(value in the table when the write lands, staged value) → the value written (default: the staged one)
        self.merge = merge
        self._staged: dict[str, tuple[Any, int]] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """The staged value of `key`, else the table's, else `default`."""
        if key in self._staged:
            value = self._staged[key][0]
            return default if value is _DELETED else value
        return self.table.get(key, default)

    def write_after_sends(self, key: str, value: Any) -> None:
        """Stage `value` now; write it once this event's sends are on the broker (at once outside an event)."""
        _, users = self._staged.get(key, (None, 0))
        self._staged[key] = (value, users + 1)
        after_sends(lambda: self._land(key, value), lambda: self._unstage(key))

    def delete_after_sends(self, key: str) -> None:
        """Hide `key` now; delete it once this event's sends are on the broker (it is back if a send fails)."""
        _, users = self._staged.get(key, (None, 0))
        self._staged[key] = (_DELETED, users + 1)
        after_sends(lambda: self._land(key, _DELETED), lambda: self._unstage(key))

    def write_now(self, key: str, value: Any, partition: int | None = None) -> None:
        """Write `value` to the table at once (a write that stands for no output of this event).

        `partition`: the changelog partition to write in, when it is not the current event's (tables.write).
        """
        if partition is None:
            self.table[key] = value
        else:
            write(self.table, key, value, partition)

    def staged(self) -> int:
        """How many keys are staged right now."""
        return len(self._staged)

    def _land(self, key: str, value: Any) -> Any:
        try:
            if value is not _DELETED:
                if self.merge is not None:  # keep what landed meanwhile (e.g. a mark another event wrote)
                    value = self.merge(self.table.get(key), value)
                return write(self.table, key, value)  # the changelog send, awaited before the event's ack
            if self.table.get(key) is None:
                return None  # nothing to delete: no tombstone
            return delete(self.table, key)
        finally:
            self._unstage(key)

    def _unstage(self, key: str) -> None:
        value, users = self._staged.get(key, (None, 0))
        if users <= 1:
            self._staged.pop(key, None)
        else:
            self._staged[key] = (value, users - 1)
