"""A Faust table whose writes are on the broker before the event that made them is acknowledged."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from referral_bus.tables import Table


class DurableTable(MutableMapping[str, Any]):
    """Writes go to the table's changelog (the current event's partition) and join the event's sends.

    Every write to a `Service.table` does so now (tables.py); this mapping is what pure code that only
    needs a MutableMapping is given. The offset waits for the write (at-least-once for table state);
    writes must be idempotent, since a replay repeats them. For state that stands for an output of the
    event (a "done" mark), use `staged.StagedTable` instead.
    """

    def __init__(self, table: Table) -> None:
        self.table = table

    def __getitem__(self, key: str) -> Any:
        return self.table[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.table.put(key, value)  # joins the event's sends (tables.py)

    def __delitem__(self, key: str) -> None:
        self.table.delete(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, or `default`."""
        return self.table.get(key, default)
