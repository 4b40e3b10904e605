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

from referral_bus.staged import StagedTable


class Pending:
    """case id → the encoded Case (Avro, as base64 text), from acceptance until its verdict has emitted it."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = StagedTable(table)

    def keep(self, case_id: str, encoded: bytes) -> None:
        """Keep the case until its verdict (a `DurableTable` makes this durable with the event)."""
        self.table.write_now(case_id, base64.b64encode(encoded).decode("ascii"))

    def get(self, case_id: str) -> bytes | None:
        """The encoded case, or None when it is not (or no longer) pending: released, even if not yet durably."""
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
        self.table.delete_after_sends(case_id)
