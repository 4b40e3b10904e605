"""Staged table writes: visible at once, written once the event's sends are acknowledged, dropped on failure."""

from __future__ import annotations

from collections.abc import Callable

from referral_bus.inflight import Pending, current
from referral_bus.staged import StagedTable


def in_event(pending: Pending, write: Callable[[], None]) -> None:
    token = current.set(pending)
    try:
        write()
    finally:
        current.reset(token)


def sent(pending: Pending) -> None:
    for callback in pending.on_sent:
        callback()


def failed(pending: Pending) -> None:
    for callback in pending.on_failed:
        callback()


def test_staged_values_are_read_first_and_written_only_once_sent() -> None:
    table: dict[str, str] = {"old": "case-1"}
    staged, event = StagedTable(table), Pending()
    in_event(event, lambda: staged.write_after_sends("new", "case-2"))
    assert staged.get("new") == "case-2" and "new" not in table
    assert staged.get("old") == "case-1"
    sent(event)
    assert table["new"] == "case-2" and staged.staged() == 0


def test_a_failed_event_drops_its_value_and_a_key_staged_twice_stays_until_both_end() -> None:
    table: dict[str, str] = {}
    staged, first, second = StagedTable(table), Pending(), Pending()
    in_event(first, lambda: staged.write_after_sends("k", "a"))
    in_event(second, lambda: staged.write_after_sends("k", "b"))
    failed(first)
    assert staged.get("k") == "b"  # the other staging is still in flight
    sent(second)
    assert table == {"k": "b"} and staged.staged() == 0
    third = Pending()
    in_event(third, lambda: staged.write_after_sends("x", "y"))
    failed(third)
    assert staged.get("x") is None and "x" not in table


def test_outside_an_event_the_write_lands_at_once() -> None:
    table: dict[str, str] = {}
    staged = StagedTable(table)
    staged.write_after_sends("k", "v")
    staged.write_now("n", "w")
    assert table == {"k": "v", "n": "w"} and staged.staged() == 0


def test_a_staged_delete_hides_the_key_at_once_and_deletes_it_only_once_sent() -> None:
    table: dict[str, str] = {"a": "case-1", "b": "case-2"}
    staged, first, second = StagedTable(table), Pending(), Pending()
    in_event(first, lambda: staged.delete_after_sends("a"))
    in_event(second, lambda: staged.delete_after_sends("b"))
    assert staged.get("a") is None and staged.get("a", "gone") == "gone" and table["a"] == "case-1"
    sent(first)
    failed(second)
    assert table == {"b": "case-2"} and staged.get("b") == "case-2" and staged.staged() == 0
    third = Pending()
    in_event(third, lambda: staged.delete_after_sends("never-there"))
    sent(third)
    assert table == {"b": "case-2"} and staged.staged() == 0
