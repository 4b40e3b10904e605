"""What intake tells a reporting agency about a report it rejected (pure): the ReportStatus record.

Only for a report that came on the agency's own intake topic (the transport proves whose it is). The
report id is the report's own when it decodes, else the one the agency put in the key `<agency>/<report>`.
The detail is our error message, which names fields and rules, never values, so the agency can fix and resend.
"""

from __future__ import annotations

from typing import Any

from referral_bus.codec import Codec
from referral_bus.errors import RejectedMessage
from referral_bus.status import status_record

MAX_REPORT_ID = 128


def report_id_of(codec: Codec, agency: str, key: bytes | None, value: bytes | None) -> str | None:
    """The report id of a message on an agency's own intake topic, when one can be told."""
    try:
        rid = codec.decode(value or b"", "CaseReport").get("report_id")
    except RejectedMessage:
        rid = None
    if isinstance(rid, str) and 0 < len(rid) <= MAX_REPORT_ID:
        return rid
    text = key.decode("utf-8", "replace") if key else ""
    rid = text.removeprefix(f"{agency}/") if text.startswith(f"{agency}/") else ""
    return rid if 0 < len(rid) <= MAX_REPORT_ID else None


def rejected(
    codec: Codec, agency: str, key: bytes | None, value: bytes | None, exc: RejectedMessage, *, at: int, where: str
) -> dict[str, Any] | None:
    """The INTAKE_REJECTED status of a rejected message (`where`: topic/partition/offset, the event's step)."""
    report_id = report_id_of(codec, agency, key, value)
    if report_id is None:
        return None
    return status_record(
        agency, report_id, "INTAKE_REJECTED", at, step=where, reason_code=exc.reason, field=exc.field, detail=str(exc)
    )
