"""Building dead-letter records: original bytes, headers, position, stage and a readable reason."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from referral_bus.clock import now_ms
from referral_bus.errors import ProcessingError, RejectedMessage
from referral_bus.message import SourceMessage, replays_of


def as_rejection(exc: BaseException) -> RejectedMessage:
    """Our own rejection as it is, anything else as a processing error naming only its type."""
    if isinstance(exc, RejectedMessage):
        return exc
    return ProcessingError(f"unexpected {type(exc).__name__} while processing; see the service log")


def dead_letter(
    source: SourceMessage,
    stage: str,
    exc: BaseException,
    *,
    case_id: str | None = None,
    referral_id: str | None = None,
    replay_count: int = 0,
) -> dict[str, Any]:
    """A DeadLetter record for a message that failed at `stage`."""
    rejection = as_rejection(exc)
    return {
        "dead_letter_id": str(uuid.uuid4()),
        "stage": stage,
        "reason": rejection.reason,
        "message": str(rejection),
        "field": rejection.field,
        "source_topic": source.topic,
        "source_partition": source.partition,
        "source_offset": source.offset,
        "original_key": source.key,
        "original_value": source.value,
        "original_headers": [{"key": k, "value": v} for k, v in source.headers],
        "failed_at": now_ms(),
        "case_id": case_id,
        "referral_id": referral_id,
        "replay_count": replay_count or replays_of(source),
        "original_digest": None if source.value is None else "sha256:" + hashlib.sha256(source.value).hexdigest(),
    }


def without_bytes(record: dict[str, Any]) -> dict[str, Any]:
    """The dead letter as kept after its bytes expire: ids and key, stage, reason, message and the digest only.

    The key stays: an identifier (agency/report id, or a case id), which statistics count dead letters by.
    """
    return {**record, "original_value": None, "original_headers": []}
