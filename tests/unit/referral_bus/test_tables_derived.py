"""`Table(derived=...)`: memory-only state derived from the entries, fed from the changelog on recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP

from tests.support.tables import Recording, record


@dataclass
class Seen:
    """A `tables.Derived` that remembers what it was given."""

    got: list[tuple[Hashable, Any, int]] = field(default_factory=list)
    kept: list[set[int]] = field(default_factory=list)

    def restored(self, key: Hashable, value: Any, partition: int) -> None:
        self.got.append((key, value, partition))

    def keep_only(self, partitions: set[int]) -> None:
        self.kept.append(partitions)


def test_every_live_recovered_entry_is_given_with_its_partition_and_tombstones_are_not() -> None:
    seen = Seen()
    t = Recording(faust.App("derived-test", store="memory://"), name="t", default=None, key_type=str, derived=seen)
    t.apply_changelog_batch([record("a", {"n": 1}, 2), record("b", {"n": 2}, 5), record("a", None, 2)])
    assert seen.got == [("a", {"n": 1}, 2), ("b", {"n": 2}, 5)]
    assert dict(t.data) == {"b": {"n": 2}}
    asyncio.run(t.on_recovery_completed({TP("t-changelog", 5)}, set()))
    assert seen.kept == [{5}]


def test_a_table_without_derived_state_recovers_as_before() -> None:
    t = Recording(faust.App("derived-none-test", store="memory://"), name="t", default=None, key_type=str)
    t.apply_changelog_batch([record("a", {"n": 1}, 2)])
    assert dict(t.data) == {"a": {"n": 1}} and t.written.partition_of("a") == 2
