"""The inbox's read model: one entry per referral delivered to an inbox user, with its state and history.

Entries come from three event streams, all keyed by case_id (so one case lives in one partition):
the redacted documents the notifier produces to referrals.inbox.v1, the receipts (state changes)
and the inbox users' own acknowledgements (what they answered). Pure: the handler stores the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from referral_bus.errors import InvalidFieldError
from referral_bus.packed import unpacked

PRIORITY_RANK = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}
MAX_HISTORY = 100
PACKED = frozenset({"doc", "history"})  # held as JSON text in the `inbox` table's memory (referral_bus/packed.py)
DOCUMENT_FIELDS = ("referral_id", "case_id", "recipient_id", "priority", "ack_sla_seconds", "created_at", "case")


def parse_document(raw: bytes) -> dict[str, Any]:
    """A referral document from the inbox topic, or InvalidFieldError naming what is wrong (no value quoted)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidFieldError("an inbox record must be a JSON referral document") from None
    if not isinstance(doc, dict):
        raise InvalidFieldError("an inbox record must be a JSON referral document")
    missing = [f for f in DOCUMENT_FIELDS if f not in doc]
    if missing:
        raise InvalidFieldError(f"the referral document lacks {', '.join(missing)}", field=missing[0])
    return doc


def from_document(doc: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entry of a delivered document; a redelivery refreshes the document and keeps state and history."""
    due = int(doc["created_at"]) + int(doc["ack_sla_seconds"]) * 1000
    entry = {
        "referral_id": doc["referral_id"],
        "case_id": doc["case_id"],
        "recipient_id": doc["recipient_id"],
        "priority": doc["priority"],
        "created_at": int(doc["created_at"]),
        "due_at": due,
        "doc": dict(doc),
        "state": "DELIVERED",
        "history": [],
    }
    if current is not None:
        entry["state"], entry["history"] = current["state"], unpacked(current, "history")
    return entry


def _with_event(entry: Mapping[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    history = [*unpacked(entry, "history"), event][-MAX_HISTORY:]
    return {**entry, "history": history}


def _event(at: int, kind: str, status: str, record: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A history event: when, what kind, the status, and `fields` copied from `record` (None where absent)."""
    return {"at": at, "kind": kind, "status": status, **{name: record.get(name) for name in fields}}


def apply_receipt(entry: Mapping[str, Any], receipt: Mapping[str, Any], state: str | None) -> dict[str, Any]:
    """The entry after a receipt of its referral: its history, and `state` when the receipt reports one."""
    event = _event(int(receipt["at"]), "receipt", str(receipt["status"]), receipt, ("reason_code", "outcome_code"))
    updated = _with_event(entry, event)
    if state is not None:
        updated["state"] = state
    if event["status"] == "DELIVERED":  # the answer is due an SLA after delivery (docs/lifecycle.md)
        updated["due_at"] = int(receipt["at"]) + int(unpacked(entry, "doc")["ack_sla_seconds"]) * 1000
    return updated


def apply_ack(entry: Mapping[str, Any], ack: Mapping[str, Any]) -> dict[str, Any]:
    """The entry after the recipient's own answer: recorded in the history (the receipt changes the state)."""
    fields = ("reason_code", "outcome_code", "transfer_to", "note")
    return _with_event(entry, _event(int(ack["acknowledged_at"]), "action", str(ack["outcome"]), ack, fields))


def ordered(entries: Iterable[Mapping[str, Any]], recipient_id: str) -> list[Mapping[str, Any]]:
    """A recipient's own entries, most urgent first: priority (P1 first), then the answer's due time."""
    mine = [e for e in entries if e["recipient_id"] == recipient_id]
    return sorted(mine, key=lambda e: (PRIORITY_RANK.get(e["priority"], 9), e["due_at"], e["referral_id"]))
