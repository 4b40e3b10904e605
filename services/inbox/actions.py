"""What a recipient may do with a referral in the inbox, from the lifecycle written as data (config/lifecycle.yaml).

An action is offered only when the lifecycle allows its target state from the referral's current
state; the notifier's lifecycle core enforces the same transitions again when it applies the
acknowledgement, so a stale page can never move a referral where the lifecycle forbids.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from referral_bus.errors import InboxError

MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class Action:
    """One button: the Acknowledgement outcome it produces and the state it leads to."""

    name: str
    outcome: str
    target: str


ACTIONS = (
    Action("accept", "ACCEPTED", "accepted"),
    Action("in_progress", "IN_PROGRESS", "in_progress"),
    Action("decline", "DECLINED", "declined"),
    Action("transfer", "TRANSFERRED", "transferred"),
    Action("complete", "COMPLETED", "completed"),
)
BY_NAME = {a.name: a for a in ACTIONS}

# Receipt statuses (DeliveryReceipt) → lifecycle states; a status not listed leaves the state as it is.
RECEIPT_STATE = {
    "QUEUED": "requested",
    "DELIVERED": "delivered",
    "RECEIVED": "received",
    "ACKNOWLEDGED": "accepted",
    "ACCEPTED": "accepted",
    "IN_PROGRESS": "in_progress",
    "REJECTED": "declined",
    "DECLINED": "declined",
    "COMPLETED": "completed",
    "TRANSFERRED": "transferred",
    "REVOKED": "cancelled",
    "CANCELLED": "cancelled",
}


@dataclass(frozen=True)
class Lifecycle:
    """The parts of config/lifecycle.yaml the inbox needs."""

    transitions: Mapping[str, frozenset[str]]
    decline_reasons: Mapping[str, Mapping[str, str]]  # code → {en, vi}
    completion_outcomes: Mapping[str, Mapping[str, str]]
    transfers: Any

    def allowed(self, state: str) -> list[Action]:
        """The actions the lifecycle allows from `state`, in the order of the buttons."""
        targets = self.transitions.get(state, frozenset())
        return [a for a in ACTIONS if a.target in targets]


def _label_map(raw: Any) -> dict[str, dict[str, str]]:
    return {str(code): {str(k): str(v) for k, v in (labels or {}).items()} for code, labels in (raw or {}).items()}


def load_lifecycle(path: Path) -> Lifecycle:
    """The lifecycle file as the inbox reads it (states lower-cased); InboxError when it cannot be read."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        transitions = {
            str(src).lower(): frozenset(str(t).lower() for t in (targets or ()))
            for src, targets in data["transitions"].items()
        }
        return Lifecycle(
            transitions,
            _label_map(data.get("decline_reasons")),
            _label_map(data.get("completion_outcomes")),
            data.get("transfers"),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise InboxError(f"cannot read the lifecycle file {path} ({type(exc).__name__}): see docs/inbox.md") from None


@dataclass(frozen=True)
class Chosen:
    """A validated action form: what goes into the Acknowledgement."""

    action: Action
    reason_code: str | None = None
    outcome_code: str | None = None
    transfer_to: str | None = None
    note: str | None = None


def parse_action(
    form: Mapping[str, str], state: str, lifecycle: Lifecycle, transfer_targets: list[str]
) -> Chosen | str:
    """The chosen action with its fields, or the label key of why it is refused."""
    action = BY_NAME.get(form.get("action", ""))
    if action is None or action not in lifecycle.allowed(state):
        return "not_allowed"
    note = (form.get("note") or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_CHARS:
        return "bad_request"
    if action.name == "decline":
        reason = form.get("reason_code", "")
        return Chosen(action, reason_code=reason, note=note) if reason in lifecycle.decline_reasons else "bad_request"
    if action.name == "complete":
        outcome = form.get("outcome_code", "")
        ok = outcome in lifecycle.completion_outcomes
        return Chosen(action, outcome_code=outcome, note=note) if ok else "bad_request"
    if action.name == "transfer":
        target = form.get("transfer_to", "")
        return Chosen(action, transfer_to=target, note=note) if target in transfer_targets else "bad_request"
    return Chosen(action, note=note)


def acknowledgement(chosen: Chosen, referral_id: str, recipient_id: str, now_ms: int) -> dict[str, Any]:
    """The Acknowledgement v2 record for a chosen action; `recipient_id` is the session's, never the form's."""
    return {
        "referral_id": referral_id,
        "recipient_id": recipient_id,
        "outcome": chosen.action.outcome,
        "reason": None,
        "acknowledged_at": now_ms,
        "reason_code": chosen.reason_code,
        "outcome_code": chosen.outcome_code,
        "transfer_to": chosen.transfer_to,
        "note": chosen.note,
        "action_id": str(uuid.uuid4()),
    }
