"""The SLA timer's index: each awaiting referral of this worker's partitions by when its next period falls due.

A heap with lazy deletion beside a map of each key's current due time and payload (the gauges' row),
so a timer tick costs O(k log n) for the k referrals that fell due instead of a scan of
`referral_state`. Rebuilt from the table when this worker's partitions change (start, rebalance) and
kept current by the handlers on every state write in between. Pure: no Faust, no clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
T = TypeVar("T")
V = TypeVar("V")


class Lasting(dict[K, V]):
    """A dict the garbage collector never untracks, so it stays old: young and middle collections skip it.

    An exact dict of untracked tuples is untracked by each full collection, then tracked young by the next tuple put
    in and walked whole by the next young and middle collections (bench/results/pk.md).
    """

    __slots__ = ()


class DueIndex(Generic[T]):
    """Keys with a due time (ms, or None: tracked, never due) and a payload; `pop_due` takes the due ones."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._entries: dict[str, tuple[int | None, T]] = Lasting()  # each key's (due, payload): stays old
        self.partitions: frozenset[int] | None = None  # the partitions it was built for; None: to rebuild

    def __len__(self) -> int:
        """How many keys are tracked."""
        return len(self._entries)

    def stale(self, owned: frozenset[int]) -> bool:
        """True when it was not built for exactly `owned` (or was invalidated since)."""
        return self.partitions != owned

    def invalidate(self) -> None:
        """Partitions were (re)assigned: rebuild before the next use."""
        self.partitions = None

    def rebuild(self, partitions: frozenset[int], items: Iterable[tuple[str, int | None, T]]) -> None:
        """Replace everything with `items` (key, due, payload) of `partitions`."""
        self._entries = Lasting((key, (due, payload)) for key, due, payload in items)
        self._heapify()
        self.partitions = partitions

    def put(self, key: str, due: int | None, payload: T | None) -> None:
        """Track `key` due at `due` (None: never) with `payload`; a None payload stops tracking it."""
        if payload is None:
            self._entries.pop(key, None)
            return
        self._entries[key] = (due, payload)
        if due is not None:
            heapq.heappush(self._heap, (due, key))
            if len(self._heap) > 2 * len(self._entries) + 64:  # stale heap items: drop them all at once
                self._heapify()

    def pop_due(self, now: int) -> list[str]:
        """Keys due at or before `now`, earliest first; each stays tracked with no due time until `put` again."""
        found = []
        while self._heap and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is not None and entry[0] == due:
                self._entries[key] = (None, entry[1])
                found.append(key)
        return found

    def due_of(self, key: str) -> int | None:
        """The key's due time, or None (not tracked, or never due)."""
        entry = self._entries.get(key)
        return entry[0] if entry else None

    def payloads(self) -> list[T]:
        """Every tracked key's payload."""
        return [payload for _, payload in self._entries.values()]

    def _heapify(self) -> None:
        self._heap = [(due, key) for key, (due, _) in self._entries.items() if due is not None]
        heapq.heapify(self._heap)
