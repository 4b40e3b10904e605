"""Bounded tables, the pure part: when an entry expires, and which entries of a partition have.

An entry expires `after_ms` after its LAST write, and only once `closed(value)` holds (when the rule
has such a test: the notifier's referral state waits for the referral to be closed). `Written` keeps,
per changelog partition, every key with the time of its last write, in write order, so a sweep of one
partition reads only the entries old enough to expire (it stops at the first younger one) and never
the rest of the table. The Faust side (tables.py) feeds it from writes and from changelog recovery.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Expiry:
    """How long an entry outlives its last write (ms), and an optional test of the value that must hold too."""

    after_ms: int
    closed: Callable[[Any], bool] | None = None

    def expired(self, value: Any, written_ms: int, now_ms: int) -> bool:
        """Whether an entry written at `written_ms` holding `value` has expired at `now_ms`."""
        return now_ms - written_ms >= self.after_ms and (self.closed is None or bool(self.closed(value)))


class Written:
    """Per partition: key → time of its last write (ms), oldest first."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[Hashable, int]] = {}
        self._where: dict[Hashable, int] = {}

    def note(self, key: Hashable, partition: int, at_ms: int) -> None:
        """`key` was written to `partition` at `at_ms` (moves it to the young end)."""
        self.forget(key)
        self._parts.setdefault(partition, {})[key] = at_ms
        self._where[key] = partition

    def forget(self, key: Hashable) -> None:
        """`key` was deleted (or left this worker)."""
        partition = self._where.pop(key, None)
        if partition is not None:
            self._parts[partition].pop(key, None)

    def keep_only(self, partitions: set[int]) -> None:
        """Drop every partition not in `partitions` (after a rebalance took them elsewhere)."""
        for partition in [p for p in self._parts if p not in partitions]:
            for key in self._parts.pop(partition):
                self._where.pop(key, None)

    def partition_of(self, key: Hashable) -> int | None:
        """The changelog partition `key` was last written to, or None."""
        return self._where.get(key)

    def __len__(self) -> int:
        """Keys tracked."""
        return len(self._where)

    def expired(self, partition: int, rule: Expiry, now_ms: int, value_of: Callable[[Hashable], Any]) -> list[Hashable]:
        """Keys of `partition` that `rule` expires at `now_ms`; reads values only of entries old enough."""
        found = []
        for key, at in self._oldest_first(partition):
            if now_ms - at < rule.after_ms:
                break  # every later key was written later still
            if rule.expired(value_of(key), at, now_ms):
                found.append(key)
        return found

    def _oldest_first(self, partition: int) -> Iterator[tuple[Hashable, int]]:
        # A write moves its key to the end, so insertion order is write order (times from one clock;
        # recovered times come in changelog order, which is write order for one partition).
        # The caller only reads while iterating (deletions come after), so no copy of the partition.
        return iter(self._parts.get(partition, {}).items())
