"""The delivered-once mark: a field of the referral's `referral_state` entry, so one changelog record holds both.

The mark says "delivered, with its receipts on the broker": it is staged when the recipient took the
referral (visible to this worker's next events at once), and lands only once the event's sends are on
the broker, in the state entry's own record (`tables.hold`: the event's state record waits for it), so a
delivered referral's event writes one `referral_state` record instead of a state record and a
`deliveries` record. If a send fails the mark is dropped and the held record goes without it (a replay
delivers again, with the same idempotency key). Every later state entry keeps the mark (`keep_mark`).
Marks written before this layout stay readable in the former `deliveries` table (`legacy`) until they
expire (NOTIFIER_REFERRAL_RETENTION_DAYS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from referral_bus.inflight import after_sends
from referral_bus.tables import hold, release, write

MARK = "delivered_mark"  # the field of a `referral_state` entry: when the delivery's receipts were on the broker


def keep_mark(current: Mapping[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` with the delivered-once mark of `current`, the entry it replaces (a state change never drops it)."""
    mark = current.get(MARK) if current is not None else None
    if mark is None or entry.get(MARK) is not None:
        return entry
    return {**entry, MARK: mark}


class DeliveredMarks:
    """Referral id → when it was delivered, read from (and written into) its `referral_state` entry."""

    def __init__(self, state: Any, legacy: Mapping[str, Any] | None = None) -> None:
        self.state = state  # the `referral_state` table (a plain mapping in unit tests)
        self.legacy = legacy  # the former `deliveries` table: read only
        self._staged: dict[str, tuple[int, int]] = {}  # referral id → (when, stagings not ended)

    def get(self, rid: str, default: Any = None) -> Any:
        """When `rid` was delivered (staged on this worker, or durable), else `default`."""
        if rid in self._staged:
            return self._staged[rid][0]
        entry = self.state.get(rid)
        mark = entry.get(MARK) if isinstance(entry, Mapping) else None
        if mark is None and self.legacy is not None:
            mark = self.legacy.get(rid)
        return default if mark is None else mark

    def write_after_sends(self, rid: str, at: int) -> None:
        """Stage the mark now; write it into the state entry once this event's sends are on the broker."""
        _, users = self._staged.get(rid, (at, 0))
        self._staged[rid] = (at, users + 1)
        hold(self.state, rid)  # the event's own state record goes with the mark, after the sends
        after_sends(lambda: self._land(rid, at), lambda: self._drop(rid))

    def _land(self, rid: str, at: int) -> Any:
        try:
            entry = self.state.get(rid)
            if entry is None:  # no state to carry it (never, a delivery writes it first): delivered again if replayed
                return release(self.state, rid)
            return write(self.state, rid, {**entry, MARK: at})  # the state record, awaited before the event's ack
        finally:
            self._unstage(rid)

    def _drop(self, rid: str) -> Any:
        try:
            return release(self.state, rid)  # the state as it is, without the mark
        finally:
            self._unstage(rid)

    def _unstage(self, rid: str) -> None:
        at, users = self._staged.get(rid, (0, 0))
        if users <= 1:
            self._staged.pop(rid, None)
        else:
            self._staged[rid] = (at, users - 1)
