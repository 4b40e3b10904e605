"""Report factory: a complete, valid CaseReport with distinctive personal-data values that must never leak."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

from fastavro import schemaless_writer

from referral_bus.codec import MAGIC
from referral_bus.contracts import contracts
from services.intake.accept import report_key

# Distinctive personal-data values: none of them may ever appear in an error message.
PII = {
    "victim_name": "Zebulon Quixotic-Victimname",
    "victim_contact": "+84 999 123 4567 secret-contact",
    "victim_handle": "@victim_handle_zq",
    "offender_handle": "@offender_handle_zq",
    "offender_ip": "198.51.100.77",
    "offender_name": "Xanthippe Offendername",
    "reporter_contact": "reporter-zq@example.invalid",
    "narrative": "NARRATIVE-SECRET-ZQ what happened",
}


def now_ms() -> int:
    return int(time.time() * 1000)


def valid_report(**overrides: Any) -> dict[str, Any]:
    """A complete, valid CaseReport (current schema) with every PII field set."""
    report: dict[str, Any] = {
        "report_id": f"R-{uuid.uuid4().hex[:12]}",
        "agency_id": "vn-hotline-111",
        "source_system": "hotline-casebook",
        "reported_at": now_ms() - 3_600_000,
        "received_at": now_ms() - 1000,
        "category": "CSAM",
        "severity": "HIGH",
        "escalation_reason": None,
        "victim": {
            "age_band": "AGE_13_15",
            "is_minor": True,
            "jurisdiction": "VN-HN",
            "name": PII["victim_name"],
            "contact": PII["victim_contact"],
            "account_handle": PII["victim_handle"],
            "sex": "FEMALE",
        },
        "offender": {
            "country": "VN",
            "account_handle": PII["offender_handle"],
            "ip_address": PII["offender_ip"],
            "name": PII["offender_name"],
        },
        "hosting_country": "US",
        "platform": "ExampleSocial",
        "content_hashes": [{"algorithm": "sha256", "value": "ab" * 32}],
        "content_urls": ["https://social.example.invalid/p/1001"],
        "preservation_requested": True,
        "consent": "NOT_REQUIRED_CHILD",
        "consented_services": [],
        "reporter_contact": PII["reporter_contact"],
        "narrative": PII["narrative"],
    }
    for path, value in overrides.items():
        node = report
        parts = path.split("__")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    return report


def key_of(report: dict[str, Any]) -> bytes:
    return report_key(report["agency_id"], report["report_id"]).encode()


def encode_v1(report: dict[str, Any]) -> bytes:
    """A report as an agency still on CaseReport v1 sends it: single-object encoded with the v1 schema."""
    v1 = contracts().history["CaseReport"][0]
    old = {k: v for k, v in report.items() if k not in ("escalation_reason", "consented_services")}
    buf = io.BytesIO()
    buf.write(MAGIC + v1.fingerprint)
    schemaless_writer(buf, v1.parsed, old)
    return buf.getvalue()
