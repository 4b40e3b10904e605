"""The notifier's lifecycle core: one recipient action on one referral's state → what changes (pure).

`apply(entry, ack, lifecycle, ...)` judges the action with `referral_domain.lifecycle.Lifecycle.check`
(config/lifecycle.yaml) and returns `Applied` (the new `referral_state` entry, the receipt fields, the
agency's status event and, for a decline or a transfer, the re-route request routing acts on) or
`Unchanged` (a repeat). An illegal or malformed action raises (IllegalTransitionError,
AcknowledgementError) and is never applied: the handler dead-letters it. No Kafka, no clock.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from referral_bus.errors import AcknowledgementError
from referral_bus.packed import unpacked
from referral_domain.lifecycle import Action, Lifecycle
from services.notifier.sla import ROUTED, record_text

KEPT_ACTION_IDS = 20  # recent action ids remembered per referral (a repeated action_id changes nothing)
# a `referral_state` entry's lists, held as JSON text in the table's memory (referral_bus/packed.py): read by `unpacked`
PACKED = frozenset({"history", "action_ids"})
_NS = uuid.UUID("3c7e1b52-8f0d-4a5e-b1c9-6e2f7a9d4b10")
DECLINED, TRANSFERRED = "DECLINED", "TRANSFERRED"


@dataclass(frozen=True)
class Applied:
    """An action applied: the new entry, the receipt to emit, the status event, maybe a re-route request."""

    entry: dict[str, Any]
    receipt: dict[str, Any]  # DeliveryReceipt fields besides ids/at: status, lifecycle_state, codes, action_id
    status_event: str  # ReportStatus.event for the reporting agency
    reroute: dict[str, Any] | None = None  # RerouteRequest fields without active_kinds/excluded (handler adds)


@dataclass(frozen=True)
class Unchanged:
    """The action changes nothing: a repeated action_id, or the action that led to the current state."""

    why: str


def state_of(entry: Mapping[str, Any], lifecycle: Lifecycle) -> str:
    """The lifecycle state of a `referral_state` entry (entries written before the lifecycle carry only `status`)."""
    return lifecycle.normalise(str(entry.get("state") or entry["status"]))


def action_of(ack: Mapping[str, Any], lifecycle: Lifecycle) -> Action:
    """The Acknowledgement as a lifecycle Action (a v1 REJECTED without reason_code gets the legacy code)."""
    outcome = str(ack.get("outcome"))
    reason_code = ack.get("reason_code")
    if outcome == "REJECTED" and reason_code is None:
        reason_code = lifecycle.spec.legacy_decline_reason
    return Action(outcome, reason_code, ack.get("outcome_code"), ack.get("transfer_to"))


def _refuse(message: str, field: str, rid: str, case_id: str | None) -> AcknowledgementError:
    exc = AcknowledgementError(message, field=field)
    exc.referral_id, exc.case_id = rid, case_id
    return exc


def request_id(referral_id: str, action: str) -> str:
    """Deterministic id of the re-route request of one referral's decline or transfer."""
    return str(uuid.uuid5(_NS, f"{referral_id}/{action}"))


def apply(
    entry: Mapping[str, Any] | None,
    ack: Mapping[str, Any],
    lifecycle: Lifecycle,
    *,
    kind_of: Callable[[str], str | None],
) -> Applied | Unchanged:
    """The outcome of `ack` (a decoded Acknowledgement) on the referral's `referral_state` entry.

    Raises AcknowledgementError (no such referral here, another recipient's, unknown code, a transfer to a
    recipient config/lifecycle.yaml `transfers` does not allow) or IllegalTransitionError.
    """
    rid = ack["referral_id"]
    if entry is None:
        raise _refuse(
            "no delivered referral with this id on the acknowledgement's partition: "
            "key acknowledgements by the referral's case_id",
            "referral_id",
            rid,
            None,
        )
    case_id = entry["case_id"]
    if entry["recipient_id"] != ack["recipient_id"]:
        raise _refuse("acknowledgement from a recipient other than the referral's", "recipient_id", rid, case_id)
    action_id = ack.get("action_id")
    if action_id and action_id in (unpacked(entry, "action_ids") or ()):
        return Unchanged("repeated action_id")
    action = action_of(ack, lifecycle)
    try:
        verdict = lifecycle.check(state_of(entry, lifecycle), action)
    except AcknowledgementError as exc:
        exc.referral_id, exc.case_id = rid, case_id
        raise
    if verdict.unchanged:
        return Unchanged(f"already {verdict.state}")
    new = verdict.state
    if new == TRANSFERRED:
        _check_transfer(entry, action, lifecycle, kind_of, rid)
    at = int(ack["acknowledged_at"])
    step = {
        "state": new,
        "at": at,
        "action_id": action_id,
        "reason_code": action.reason_code if new in (DECLINED, TRANSFERRED) else None,
        "outcome_code": action.outcome_code,
        "transfer_to": action.transfer_to if new == TRANSFERRED else None,
    }
    final = lifecycle.is_final(new)
    updated = {
        **entry,
        "status": lifecycle.receipt_status(new),
        "state": new,
        "acked_at": at,
        "history": [*(unpacked(entry, "history") or []), step],
        "action_ids": [*(unpacked(entry, "action_ids") or []), *([action_id] if action_id else [])][-KEPT_ACTION_IDS:],
        # the referral is kept while a transfer or a decline may still need it; never after a final state
        "referral": None if final else entry.get("referral"),
    }
    receipt = {
        "status": lifecycle.receipt_status(new),
        "lifecycle_state": new,
        "reason_code": step["reason_code"],
        "outcome_code": step["outcome_code"],
        "action_id": action_id,
        "detail": (ack.get("reason") or "")[:200] or _detail(step),  # a v1 reason (no personal data), else the codes
    }
    reroute = _reroute(entry, step, kind_of, rid) if new in (DECLINED, TRANSFERRED) else None
    return Applied(updated, receipt, new, reroute)


def _check_transfer(
    entry: Mapping[str, Any], action: Action, lifecycle: Lifecycle, kind_of: Callable[[str], str | None], rid: str
) -> None:
    to = str(action.transfer_to)
    from_kind, to_kind = kind_of(entry["recipient_id"]), kind_of(to)
    if to_kind is None or from_kind is None:
        raise _refuse("transfer_to is not a recipient in the directory", "transfer_to", rid, entry["case_id"])
    if not lifecycle.transfer_allowed(entry["recipient_id"], from_kind, to, to_kind):
        raise _refuse(
            f"a {from_kind} recipient may not transfer to a {to_kind} recipient (config/lifecycle.yaml transfers)",
            "transfer_to",
            rid,
            entry["case_id"],
        )


def _detail(step: Mapping[str, Any]) -> str | None:
    parts = [f"{k} {step[k]}" for k in ("reason_code", "outcome_code", "transfer_to") if step.get(k)]
    return "; ".join(parts) or None


def _reroute(
    entry: Mapping[str, Any], step: Mapping[str, Any], kind_of: Callable[[str], str | None], rid: str
) -> dict[str, Any]:
    if not entry.get("referral"):
        raise _refuse(
            "the referral's record is no longer held by the notifier, so it cannot be sent on",
            "referral_id",
            rid,
            entry["case_id"],
        )
    return {
        "request_id": request_id(rid, step["state"]),
        "case_id": entry["case_id"],
        "referral_id": rid,
        "recipient_id": entry["recipient_id"],
        "recipient_kind": kind_of(entry["recipient_id"]) or "unknown",
        "action": step["state"],
        "transfer_to": step["transfer_to"],
        "reason_code": step["reason_code"],
        "requested_at": step["at"],
        "referral": base64.b64decode(entry["referral"]),
    }


def case_view(
    entries: Iterable[Mapping[str, Any]], lifecycle: Lifecycle, kind_of: Callable[[str], str | None]
) -> tuple[list[str], list[str]]:
    """(excluded recipient ids, kinds still actively held) over the `referral_state` entries of one case.

    Every recipient that already has a referral of the case is excluded from a re-route (it declined, or
    holds one); the active kinds tell routing whether a mandatory kind is still covered.
    """
    excluded, active = set(), set()
    for e in entries:
        excluded.add(str(e["recipient_id"]))
        if stands_for_kind(state_of(e, lifecycle), lifecycle):
            kind = kind_of(str(e["recipient_id"]))
            if kind:
                active.add(kind)
    return sorted(excluded), sorted(active)


def stands_for_kind(state: str, lifecycle: Lifecycle) -> bool:
    """True while a referral in `state` still covers its recipient's kind: on its way (ROUTED) or active.

    A sibling not delivered yet (ROUTED) will be; one given up (FAILED) or refused by the safeguards does
    not cover its kind, nor does any state the lifecycle does not know (never an error: a re-route goes on).
    """
    if state == ROUTED:
        return True
    return state in lifecycle.spec.states and lifecycle.is_active(state)


def lifecycle_fields(referral: Mapping[str, Any], value: bytes, kind: str | None, delivered_at: int) -> dict[str, Any]:
    """What the lifecycle adds to a just-delivered referral's `referral_state` entry.

    Ids and kinds, the history, and the referral record as consumed (`value`, base64): kept until a final
    state, since a decline or a transfer sends the case on from it (sla.delivered_state keeps it only for
    an escalation target).
    """
    report = referral["case"]["report"]
    return {
        "referral": record_text(value),
        "state": "DELIVERED",
        "kind": kind,
        "agency_id": report.get("agency_id"),
        "report_id": report.get("report_id"),
        "history": [{"state": "DELIVERED", "at": delivered_at}],
        "action_ids": [],
    }
