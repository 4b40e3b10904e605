"""Disclosure records: who received which fields (paths, never values) of a case, how and under which versions.

The one seam every sender of personal data calls right after the data left the bus: the notifier
(webhook, e-mail, partner topic, escalations), a re-route and the recipients' inbox (a view). Build the
record with `record(...)`, encode it as `Disclosure` and send it to `topics.DISCLOSURES` keyed by
case_id; the ledger worker chains it (docs/data-protection.md).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from referral_bus.ids import uuid5_text

DISCLOSURE_NAMESPACE = uuid.UUID("5b0c7a52-2f5d-4c1e-9a61-0d1c5e2f7a20")
CHANNELS = frozenset({"webhook", "email", "kafka", "inbox"})
PURPOSES = frozenset({"referral", "escalation", "reroute", "view"})
# The marker a referral's maker appends to its rule_ids (notifier's SLA escalation, routing's re-route,
# transfer and uncovered-case alert) → the purpose of delivering it; the last marker wins.
PURPOSE_OF_RULE = {
    "sla-escalation": "escalation",
    "lifecycle-reroute": "reroute",
    "lifecycle-transfer": "reroute",
    "lifecycle-uncovered": "reroute",
}


def purpose_of(rule_ids: Any) -> str:
    """Why a referral is delivered: its last escalation or re-route marker, else an ordinary referral."""
    marked = [PURPOSE_OF_RULE[r] for r in rule_ids or () if r in PURPOSE_OF_RULE]
    return marked[-1] if marked else "referral"


# json.dumps with these arguments builds this encoder on every call; it keeps no state between calls.
# No circular-reference check (8–15 % of a hot encode, ~3 % cache-cold): decoded records and documents hold no
# cycles, and an acyclic value's bytes are the same; a cyclic one still raises (RecursionError, not ValueError).
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), check_circular=False)


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces, UTF-8): what digests cover and what a recipient receives."""
    return _CANONICAL.encode(value).encode("utf-8")


def digest(payload: bytes) -> str:
    """`sha256:<hex>` of the exact bytes sent."""
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def field_paths(doc: Any, prefix: str = "") -> list[str]:
    """Sorted dotted paths of every field holding a value (a list is one field); None and {} disclose nothing."""
    out: list[str] = []
    _collect_paths(doc if isinstance(doc, dict) else {"": doc}, prefix, out)  # a bare value: the prefix's own path
    out.sort()  # once, at the end: sorting every level too gave the same list at several times the cost
    return out


def _collect_paths(doc: dict[Any, Any], prefix: str, out: list[str]) -> None:
    """A dict's leaves checked in its own loop: no call per leaf (a document has ~35), the same paths."""
    for key, value in doc.items():
        if isinstance(value, dict):
            _collect_paths(value, f"{prefix}{key}.", out)
        elif value is not None and not (isinstance(value, list) and not value):
            out.append(f"{prefix}{key}".rstrip("."))


def disclosure_id(referral_id: str, recipient_id: str, channel: str, purpose: str, occurrence: str = "") -> str:
    """Deterministic: a replayed delivery of the same referral is the same disclosure (the ledger keeps one).

    `occurrence` tells apart disclosures that are not replays (each inbox view: its session and time).
    """
    name = f"{referral_id}/{recipient_id}/{channel}/{purpose}" + (f"/{occurrence}" if occurrence else "")
    return uuid5_text(DISCLOSURE_NAMESPACE, name)


def record(
    referral: dict[str, Any],
    *,
    channel: str,
    purpose: str,
    data_profile: str,
    profile_version: str,
    document: dict[str, Any],
    payload: bytes,
    at: int,
    safeguards_version: str | None = None,
    rules_version: str | None = None,
    occurrence: str = "",
) -> dict[str, Any]:
    """A `Disclosure` record for `document` (the redacted document sent) whose exact bytes were `payload`."""
    if channel not in CHANNELS or purpose not in PURPOSES:
        raise ValueError(f"disclosure: channel must be one of {sorted(CHANNELS)}, purpose one of {sorted(PURPOSES)}")
    report = (referral.get("case") or {}).get("report") or {}
    return {
        "disclosure_id": disclosure_id(referral["referral_id"], referral["recipient_id"], channel, purpose, occurrence),
        "referral_id": referral["referral_id"],
        "case_id": referral["case_id"],
        "agency_id": report.get("agency_id"),
        "report_id": report.get("report_id"),
        "decision_id": referral.get("decision_id"),
        "recipient_id": referral["recipient_id"],
        "channel": channel,
        "purpose": purpose,
        "data_profile": data_profile,
        "profile_version": profile_version,
        "fields": field_paths(document),
        "payload_digest": digest(payload),
        "rules_version": rules_version,
        "safeguards_version": safeguards_version,
        "at": at,
    }
