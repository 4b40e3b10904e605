"""The delivered-once mark in the referral's state entry: one record with the state, after the event's sends."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from referral_bus.inflight import Pending, current
from referral_bus.tables import flush_changelog
from services.notifier.delivered import MARK, DeliveredMarks, keep_mark
from tests.support.tables import Recording, recording_table

DELIVERED = {"status": "DELIVERED", "case_id": "case-1", "delivered_at": 5, "partition": 2}


def state_table() -> Recording:
    return recording_table("delivered-test", event_partition=2)


def delivery_event(state: Recording, marks: DeliveredMarks, *, ok: bool) -> Pending:
    """One delivery's event as run_guarded runs it: the mark staged, the state written, flushed, then settled."""
    pending = Pending()
    token = current.set(pending)
    try:
        state.put("r1", {"status": "ROUTED", "case_id": "case-1", "partition": 2})
        marks.write_after_sends("r1", 100)  # deliver.py, once the recipient took it
        state.put("r1", DELIVERED)  # handlers._delivered
        assert marks.get("r1") == 100, "visible to this worker's next events at once"
        flush_changelog(pending)
        assert state.sent == [], "the state record waits for the sends"
        for callback in pending.on_sent if ok else pending.on_failed:
            callback()
    finally:
        current.reset(token)
    return pending


def test_a_delivered_referral_writes_one_state_record_carrying_the_mark_after_its_sends() -> None:
    state = state_table()
    marks = DeliveredMarks(state)
    pending = delivery_event(state, marks, ok=True)
    assert state.sent == [(2, "r1", {**DELIVERED, MARK: 100})]
    assert ("send", 2, "r1") in pending.sends, "the event's ack waits for it"
    assert marks.get("r1") == 100


def test_when_a_send_fails_the_state_goes_without_the_mark_and_a_replay_delivers_again() -> None:
    state = state_table()
    marks = DeliveredMarks(state)
    delivery_event(state, marks, ok=False)
    assert state.sent == [(2, "r1", DELIVERED)]
    assert marks.get("r1") is None


def test_marks_of_the_former_deliveries_table_are_still_read() -> None:
    marks = DeliveredMarks({"r1": {"status": "DELIVERED"}}, legacy={"r0": 7})
    assert marks.get("r0") == 7 and marks.get("r1") is None and marks.get("r2", 0) == 0


entries = st.dictionaries(st.sampled_from(["status", "acked_at", MARK]), st.integers(0, 9), max_size=3)


@given(current_entry=st.one_of(st.none(), entries), new=entries)
def test_a_state_change_never_drops_the_mark(current_entry: dict[str, Any] | None, new: dict[str, Any]) -> None:
    kept = keep_mark(current_entry, new)
    if new.get(MARK) is not None:
        assert kept == new
    elif current_entry is not None and current_entry.get(MARK) is not None:
        assert kept == {**new, MARK: current_entry[MARK]}
    else:
        assert kept == new
