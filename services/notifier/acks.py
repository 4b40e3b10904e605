"""Acknowledgements: who is calling the ack endpoint, what they say, and what it does to a referral."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from referral_bus.errors import AcknowledgementError, RecipientMismatchError

# What a recipient may say → the receipt status it becomes.
OUTCOME_STATUS = {"ACCEPTED": "ACKNOWLEDGED", "REJECTED": "REJECTED", "COMPLETED": "COMPLETED"}
# States after which no further acknowledgement changes anything (COMPLETED may follow ACCEPTED).
FINAL = frozenset({"REJECTED", "COMPLETED", "REVOKED", "TRANSFERRED", "CANCELLED"})  # + the lifecycle's (v3)
MAX_REASON_CHARS = 500
# Referral ids the endpoint looks up at all (anything else is "no such referral" before any lookup).
REFERRAL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def ack_tokens(recipient_ids: Iterable[str], secret: Callable[[str], str | None]) -> dict[str, str]:
    """Every recipient's configured ack token (secret `ack-token-<recipient id>`); unset ones are left out."""
    tokens = {}
    for recipient_id in recipient_ids:
        token = secret(f"ack-token-{recipient_id}")
        if token:
            tokens[recipient_id] = token
    return tokens


def authenticate(token: str | None, tokens: Mapping[str, str]) -> str | None:
    """The recipient whose ack token this is, or None.

    Compares against every configured token in constant time and without stopping early, so the
    answer time says nothing about which recipients exist or how much of a token was right.
    """
    if not token:
        return None
    presented = token.encode()
    found: str | None = None
    for recipient_id, expected in tokens.items():
        if hmac.compare_digest(presented, expected.encode()) and expected:
            found = recipient_id
    return found


@dataclass(frozen=True, slots=True)  # one per referral (ack) on the hot path: no __dict__
class AckRequest:
    """A parsed acknowledgement body."""

    outcome: str
    reason: str | None
    case_id: str | None


def parse_body(raw: bytes) -> AckRequest:
    """`{"outcome": "ACCEPTED"|"REJECTED"|"COMPLETED", "reason": str?, "case_id": str?}` or AcknowledgementError."""
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AcknowledgementError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise AcknowledgementError("the body must be a JSON object")
    unknown = sorted(set(data) - {"outcome", "reason", "case_id"})
    if unknown:
        raise AcknowledgementError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    outcome = data.get("outcome")
    if outcome not in OUTCOME_STATUS:
        raise AcknowledgementError(f"outcome must be one of {', '.join(OUTCOME_STATUS)}", field="outcome")
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
        raise AcknowledgementError(f"reason must be a string of at most {MAX_REASON_CHARS} characters", field="reason")
    if outcome == "REJECTED" and not reason:
        raise AcknowledgementError("a rejection needs a reason", field="reason")
    case_id = data.get("case_id")
    if case_id is not None and (not isinstance(case_id, str) or not 0 < len(case_id) <= 128):
        raise AcknowledgementError("case_id must be the referral's case id", field="case_id")
    return AckRequest(outcome, reason, case_id)


def check_recipient(ack: Mapping[str, Any], recipient: str | None) -> None:
    """Refuse an ack whose recipient_id is not the recipient whose own ack topic carried it.

    `recipient` comes from the transport (None on the shared topic, which only the notifier's
    authenticated HTTP endpoint writes to).
    """
    if recipient is not None and ack.get("recipient_id") != recipient:
        exc = RecipientMismatchError(
            "recipient_id is not the recipient whose acknowledgement topic carried it: a recipient "
            "acknowledges only as itself, on its own topic (config/agencies.yaml)",
            field="recipient_id",
        )
        exc.referral_id = ack.get("referral_id")
        raise exc


def transition(current: str, ack: Mapping[str, Any]) -> str | None:
    """The referral's new status after `ack`, or None when the ack changes nothing (duplicate, too late).

    Raises AcknowledgementError for an acknowledgement that cannot be right (unknown outcome).
    """
    status = OUTCOME_STATUS.get(str(ack.get("outcome")))
    if status is None:
        raise AcknowledgementError("acknowledgement outcome must be ACCEPTED, REJECTED or COMPLETED", field="outcome")
    if current in FINAL or current == status:
        return None
    return status


def apply_ack(current: Mapping[str, Any] | None, ack: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `referral_state` entry after `ack`, or None when the ack changes nothing (duplicate, too late).

    `current` is the referral's entry (None when there is none on this partition). Raises
    AcknowledgementError, carrying the ids it knows, for an acknowledgement of no delivered referral
    here, from a recipient other than the referral's, or with an unknown outcome.
    """
    rid = ack["referral_id"]
    if current is None:
        exc = AcknowledgementError(
            "no delivered referral with this id on the acknowledgement's partition: "
            "key acknowledgements by the referral's case_id",
            field="referral_id",
        )
        exc.referral_id = rid
        raise exc
    if current["recipient_id"] != ack["recipient_id"]:
        exc = AcknowledgementError("acknowledgement from a recipient other than the referral's", field="recipient_id")
        exc.referral_id, exc.case_id = rid, current["case_id"]
        raise exc
    new = transition(current["status"], ack)
    if new is None:
        return None
    # The stored referral is only kept for an escalation, which an acknowledgement makes moot.
    return {**current, "status": new, "acked_at": ack["acknowledged_at"], "referral": None}
