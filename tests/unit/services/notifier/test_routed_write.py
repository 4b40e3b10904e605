"""A taken referral's ROUTED state: visible at once, changelogged at the end of its event unless replaced."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.handlers import Notifier, Tables
from services.notifier.pending import PendingIndex
from services.notifier.sla import ROUTED
from tests.support.tables import ChangelogTable


def _notifier() -> Notifier:
    n = object.__new__(Notifier)  # only the state-writing part is exercised: no service, no Faust
    n.tables = Tables(delivered={}, parked={}, state=ChangelogTable(), escalations={}, breakers={}, early_acks=None)
    n.due = PendingIndex()
    n.routed = {}
    return n


def _entry(status: str) -> dict[str, Any]:
    return {
        "case_id": "case-1",
        "recipient_id": "p",
        "priority": "P2",
        "ack_sla_seconds": 60,
        "created_at": 0,
        "delivered_at": None,
        "status": status,
        "partition": 0,
    }


@given(st.lists(st.sampled_from(["DELIVERED", "FAILED", "REFUSED"]), max_size=3))
def test_the_last_state_of_an_event_is_changelogged_and_routed_only_when_it_is_the_last(later: list[str]) -> None:
    n = _notifier()
    table = n.tables.state
    routed = _entry(ROUTED)
    n._set_state("r1", routed, routed=True)
    assert table.get("r1") is routed and table.writes == []  # visible at once, not written yet
    for status in later:
        n._set_state("r1", _entry(status))
    n._write_routed("r1")  # the end of the event
    assert [v["status"] for _, v in table.writes] == (later or [ROUTED])
    assert table["r1"]["status"] == (later[-1] if later else ROUTED)
    assert n.routed == {}
    n._write_routed("r1")  # nothing left to write
    assert len(table.writes) == max(1, len(later))


def test_a_routed_entry_replaced_by_another_writer_is_not_written_back() -> None:
    n = _notifier()
    table = n.tables.state
    n._set_state("r1", _entry(ROUTED), routed=True)
    table["r1"] = {**_entry("DELIVERED"), "state": "ACCEPTED"}  # e.g. a staged lifecycle write that landed
    n._write_routed("r1")
    assert [v["status"] for _, v in table.writes] == ["DELIVERED"]
