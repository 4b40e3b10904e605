"""The JSON document a recipient receives (webhook body, e-mail attachment), version 1."""

from __future__ import annotations

import json
from typing import Any

from services.notifier.redaction import Profile, redact

DOCUMENT_VERSION = "referral-bus.referral/v1"


def document(referral: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """The referral as the recipient sees it: routing facts plus the case reduced to its profile.

    `link` (ids and codes only) says the case's report is a linked report and whether it updates a
    referral the recipient already holds; null for a case's first report.
    """
    return {
        "document": DOCUMENT_VERSION,
        "referral_id": referral["referral_id"],
        "case_id": referral["case_id"],
        "recipient_id": referral["recipient_id"],
        "priority": referral["priority"],
        "ack_sla_seconds": referral["ack_sla_seconds"],
        "preservation_request": referral["preservation_request"],
        "reason": referral["reason"],
        "rule_ids": referral["rule_ids"],
        "created_at": referral["created_at"],
        "data_profile": profile.name,
        "case": redact(referral["case"], profile),
        "link": referral.get("link"),
    }


def body(doc: dict[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, UTF-8): what the HMAC signature covers."""
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
