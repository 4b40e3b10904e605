"""A referral's rows (state, SLA index, pending tally, expiry notes, delivered mark) add nothing the GC walks.

A full garbage collection walks every tracked object, so a row that stays tracked makes every full collection
of a long-running notifier longer (bench/results/gc.md). Through the real handlers, tables as app.py declares
them: referrals delivered, half of them then acknowledged (ACCEPTED, then COMPLETED).
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from bench import gc_rows
from referral_bus.packed import unpacked

WARM, ROWS = 60, 400


def _row_parts(notifier: Any) -> list[Any]:
    """What the notifier keeps per referral: state entries, SLA index and tally rows and heap items, expiry notes."""
    state, due = notifier.tables.state, notifier.due
    heaps = [due._heap, *due.tally._since.values(), *due.tally._deadlines.values()]
    notes = [*state.written._parts.values(), state.written._where]
    return [
        *state.data.values(),
        *due._entries.values(),
        *due.tally._of.values(),
        *(item for heap in heaps for item in heap),
        *(v for note in notes for v in note.values()),
    ]


def test_a_delivered_or_acknowledged_referral_leaves_no_tracked_object() -> None:
    notifier, directory = gc_rows.notifier_of()
    referral_msgs, ack_msgs = gc_rows.messages(notifier, directory, WARM + ROWS, acked=0.5)
    warm_acks = 2 * (WARM // 2)  # the first WARM referrals' acknowledgements
    asyncio.run(gc_rows.drive(notifier, referral_msgs[:WARM], ack_msgs[:warm_acks]))  # imports, caches, breakers
    asyncio.run(gc_rows.drive(notifier, referral_msgs[WARM:], ack_msgs[warm_acks:]))
    gc.collect()  # a tuple of scalars is untracked by the first pass that sees it,
    gc.collect()  # one holding such a tuple (the index's (due, row)) by the next
    state = notifier.tables.state
    assert len(state) == WARM + ROWS and len(state.written) == WARM + ROWS  # every referral has its row
    assert sum(1 for e in state.data.values() if e.get("state") == "COMPLETED") == (WARM + ROWS) // 2
    assert len(notifier.due) == (WARM + ROWS) // 2 and len(notifier.due.tally) == (WARM + ROWS) // 2  # still awaiting
    assert all(notifier.tables.delivered.get(rid) for rid in state.data)  # the delivered-once marks
    done = next(e for e in state.data.values() if e.get("state") == "COMPLETED")  # its lists read back whole
    assert [step["state"] for step in unpacked(done, "history")] == ["DELIVERED", "ACCEPTED", "COMPLETED"]
    assert len(unpacked(done, "action_ids")) == 2
    parts = _row_parts(notifier)
    assert len(parts) > 3 * (WARM + ROWS)
    walked = [type(p).__name__ for p in parts if gc.is_tracked(p)]
    assert not walked, f"{len(walked)} of a referral's rows stay tracked: {sorted(set(walked))}"
    # the maps holding those rows stay tracked, so old: untracked, the next row's tuple would track them again as
    # young objects, which the next young and middle collections walk whole (bench/results/pk.md)
    assert gc.is_tracked(notifier.due._entries) and gc.is_tracked(notifier.due.tally._of)
