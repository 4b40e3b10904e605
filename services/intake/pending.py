"""Accepted cases waiting for their correlation verdict, kept on the report's partition (not in the hops).

The case is written (encoded) with the report's event, durable before that event is acknowledged; the
verdict comes back to the same partition (the verdicts topic is keyed like the report), emits it, and
drops it once the case is on the broker (gone for this worker's next events at once, so a second verdict
handled meanwhile emits nothing). A replayed verdict finds it gone; a replayed report whose case is still
here sends its first hop again (handlers.py: its first verdict may have gone to a worker without it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import MutableMapping
from typing import Any

from referral_bus.inflight import after_sends


class Pending:
    """case id → the encoded Case (Avro, as base64 text), from acceptance until its verdict has emitted it."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self._releasing: dict[str, int] = {}  # case id → releases staged (the case's emission not yet acked)

    def keep(self, case_id: str, encoded: bytes) -> None:
        """Keep the case until its verdict (a `DurableTable` makes this durable with the event)."""
        self.table[case_id] = base64.b64encode(encoded).decode("ascii")

    def get(self, case_id: str) -> bytes | None:
        """The encoded case, or None when it is not (or no longer) pending: released, even if not yet durably."""
        if case_id in self._releasing:
            return None
        value = self.table.get(case_id)
        if not isinstance(value, str):
            return None
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None

    def release_after_sends(self, case_id: str) -> None:
        """Drop the case once this event's sends (the case, its claims) are on the broker; gone for `get` now.

        If a send fails (the verdict is dead-lettered, so it can be replayed) the case is pending again.
        """
        self._releasing[case_id] = self._releasing.get(case_id, 0) + 1
        after_sends(lambda: self._drop(case_id), lambda: self._unstage(case_id))

    def _drop(self, case_id: str) -> None:
        try:
            if self.table.get(case_id) is not None:
                del self.table[case_id]
        finally:
            self._unstage(case_id)

    def _unstage(self, case_id: str) -> None:
        users = self._releasing.pop(case_id, 0)
        if users > 1:
            self._releasing[case_id] = users - 1
