"""`tables.hold` / `release`: an event's record of a key sent after its sends, with whatever landed meanwhile."""

from __future__ import annotations

from referral_bus.inflight import Pending, current
from referral_bus.staged import StagedTable
from referral_bus.tables import flush_changelog, hold, release, write
from tests.support.tables import Recording, recording_table


def table() -> Recording:
    return recording_table("hold-test", event_partition=4)


def test_a_held_key_is_left_out_of_the_flush_and_released_once_with_its_value_then() -> None:
    t, pending = table(), Pending()
    token = current.set(pending)
    try:
        t.put("held", {"v": 1})
        t.put("other", 2)
        hold(t, "held")
        flush_changelog(pending)  # the handler returned
        assert t.sent == [(4, "other", 2)]
        t.data["held"] = {"v": 1, "mark": 9}  # what a staged write does in memory
        sent = release(t, "held")
    finally:
        current.reset(token)
    assert t.sent == [(4, "other", 2), (4, "held", {"v": 1, "mark": 9})]
    assert sent == ("send", 4, "held") and sent in pending.sends, "the event's ack waits for it"


def test_a_write_after_the_flush_sends_the_held_key_and_nothing_is_held_outside_an_event() -> None:
    t, pending = table(), Pending()
    token = current.set(pending)
    try:
        hold(t, "k")
        t.put("k", 1)
        flush_changelog(pending)
        assert t.sent == []
        assert write(t, "k", 2) == ("send", 4, "k")  # a staged write landing: at once, joining the event
    finally:
        current.reset(token)
    assert t.sent == [(4, "k", 2)]
    plain: dict[str, int] = {}
    hold(plain, "k")
    assert release(plain, "k") is None and release(t, "never-held") is None


def test_a_staged_write_can_keep_what_landed_meanwhile() -> None:
    state: dict[str, dict[str, int]] = {"r": {"a": 1}}
    staged = StagedTable(state, merge=lambda now, new: {**new, **{k: v for k, v in (now or {}).items() if k == "m"}})
    pending = Pending()
    token = current.set(pending)
    try:
        staged.write_after_sends("r", {"a": 2})
    finally:
        current.reset(token)
    state["r"] = {"a": 1, "m": 7}  # another event's mark landed first
    for callback in pending.on_sent:
        callback()
    assert state["r"] == {"a": 2, "m": 7}
