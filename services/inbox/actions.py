"""What a recipient may do with a referral in the inbox: the kernel's lifecycle (config/lifecycle.yaml) decides.

An action is offered only when the lifecycle allows it from the referral's current state, and is
checked again (`Lifecycle.check`) before anything is produced; the notifier's lifecycle core judges it
once more when it applies the acknowledgement, so a stale page never moves a referral where the
lifecycle forbids.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from referral_bus.errors import AcknowledgementError, IllegalTransitionError
from referral_domain.directory import Directory
from referral_domain.lifecycle import Action, Lifecycle

MAX_NOTE_CHARS = 2000
# The form field of each code an action may carry (the same names as the Acknowledgement fields).
FIELDS = ("reason_code", "outcome_code", "transfer_to")
# Fields the inbox always asks for, beyond what the lifecycle requires (an outcome on every completion).
ASKED = {"DECLINED": "reason_code", "COMPLETED": "outcome_code", "TRANSFERRED": "transfer_to"}


def state_of(lifecycle: Lifecycle, receipt: Mapping[str, Any]) -> str | None:
    """The lifecycle state a receipt reports (its `lifecycle_state`, else its status read as a state), or None."""
    state = receipt.get("lifecycle_state") or lifecycle.normalise(str(receipt["status"]))
    return state if state in lifecycle.states else None


def transfer_targets(lifecycle: Lifecycle, directory: Directory, recipient_id: str) -> list[str]:
    """The recipients `recipient_id` may hand a referral to (config/lifecycle.yaml `transfers`)."""
    me = directory.get(recipient_id)
    if me is None:
        return []
    return sorted(
        r.id for r in directory.recipients.values() if lifecycle.transfer_allowed(me.id, me.kind, r.id, r.kind)
    )


@dataclass(frozen=True)
class Chosen:
    """A validated action form: what goes into the Acknowledgement."""

    action: Action
    note: str | None = None


def parse_action(form: Mapping[str, str], state: str, lifecycle: Lifecycle, targets: list[str]) -> Chosen | str:
    """The chosen action with its fields, or the label key of why it is refused (`not_allowed`, `bad_request`)."""
    outcome = form.get("action", "")
    if outcome not in lifecycle.allowed_actions(state):
        return "not_allowed"
    asked = ASKED.get(outcome)
    codes = {f: (form.get(f) or None) if f == asked else None for f in FIELDS}
    note = (form.get("note") or "").strip() or None
    if (asked and not codes[asked]) or (note is not None and len(note) > MAX_NOTE_CHARS):
        return "bad_request"
    if codes["transfer_to"] is not None and codes["transfer_to"] not in targets:
        return "bad_request"
    action = Action(outcome, **codes)
    try:
        lifecycle.check(state, action)
    except IllegalTransitionError:
        return "not_allowed"
    except AcknowledgementError:
        return "bad_request"
    return Chosen(action, note)


def acknowledgement(chosen: Chosen, referral_id: str, recipient_id: str, now_ms: int) -> dict[str, Any]:
    """The Acknowledgement v2 record of a chosen action; `recipient_id` is the session's, never the form's."""
    a = chosen.action
    return {
        "referral_id": referral_id,
        "recipient_id": recipient_id,
        "outcome": a.outcome,
        "reason": None,
        "acknowledged_at": now_ms,
        "reason_code": a.reason_code,
        "outcome_code": a.outcome_code,
        "transfer_to": a.transfer_to,
        "note": chosen.note,
        "action_id": str(uuid.uuid4()),
    }
