"""The read model: documents, receipts and the recipients' own answers make one entry per referral."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.errors import InvalidFieldError
from services.inbox.model import MAX_HISTORY, apply_ack, apply_receipt, from_document, ordered, parse_document
from tests.support.inbox import document


def canonical(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_a_document_becomes_a_delivered_entry_with_its_due_time() -> None:
    entry = from_document(document("r1", "p", created_at=1000), None)
    assert (entry["state"], entry["due_at"], entry["history"]) == ("DELIVERED", 1000 + 900_000, [])


def test_a_redelivery_keeps_state_and_history() -> None:
    entry = apply_receipt(from_document(document("r1", "p"), None), {"status": "ACKNOWLEDGED", "at": 5}, "ACCEPTED")
    again = from_document(document("r1", "p"), entry)
    assert again["state"] == "ACCEPTED" and len(again["history"]) == 1


def test_the_answer_is_due_an_sla_after_delivery() -> None:
    entry = apply_receipt(
        from_document(document("r1", "p", created_at=1000), None), {"status": "DELIVERED", "at": 5000}, "DELIVERED"
    )
    assert entry["due_at"] == 5000 + 900_000


def test_receipts_and_answers_go_into_the_history() -> None:
    entry = from_document(document("r1", "p"), None)
    entry = apply_ack(entry, {"acknowledged_at": 1, "outcome": "DECLINED", "reason_code": "other", "note": "n"})
    entry = apply_receipt(entry, {"status": "REJECTED", "at": 2, "reason_code": "other"}, "DECLINED")
    assert entry["state"] == "DECLINED"
    assert [h["kind"] for h in entry["history"]] == ["action", "receipt"]
    entry = apply_receipt(entry, {"status": "ESCALATED", "at": 3}, None)
    assert entry["state"] == "DECLINED"


def test_history_is_bounded() -> None:
    entry = from_document(document("r1", "p"), None)
    for i in range(MAX_HISTORY + 10):
        entry = apply_receipt(entry, {"status": "DELIVERED", "at": i}, None)
    assert len(entry["history"]) == MAX_HISTORY and entry["history"][-1]["at"] == MAX_HISTORY + 9


@given(
    st.lists(st.tuples(st.sampled_from(["P1", "P2", "P3", "P4"]), st.integers(0, 10**6), st.booleans()), max_size=20)
)
def test_the_list_is_ones_own_most_urgent_first(rows: list[tuple[str, int, bool]]) -> None:
    entries = [
        from_document(document(f"r{i}", "me" if mine else "other", priority=p, created_at=t), None)
        for i, (p, t, mine) in enumerate(rows)
    ]
    listed = ordered(entries, "me")
    assert all(e["recipient_id"] == "me" for e in listed)
    assert len(listed) == sum(1 for *_, mine in rows if mine)
    keys = [(e["priority"], e["due_at"]) for e in listed]
    assert keys == sorted(keys)  # "P1" < "P2" < …: the rank order is the string order


@pytest.mark.parametrize("raw", [b"", b"\xff", b"[]", b'"x"', b"{}", canonical({"referral_id": "r"})])
def test_bad_documents_are_refused_with_a_specific_error(raw: bytes) -> None:
    with pytest.raises(InvalidFieldError):
        parse_document(raw)


def test_a_document_reads_back() -> None:
    doc = document("r1", "p")
    assert parse_document(canonical(doc)) == doc
