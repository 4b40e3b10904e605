"""Building dead-letter records: original bytes, headers, position, stage and a readable reason."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from referral_bus.errors import ProcessingError, RejectedMessage


@dataclass(frozen=True)
class SourceMessage:
    """Where a message came from and what it was, exactly as read from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


REPLAY_HEADER = "referral-bus-replay-count"


def replays_of(source: SourceMessage) -> int:
    """How many times the message was replayed already (`referral-bus deadletter replay` sets the header)."""
    for k, v in source.headers:
        if k == REPLAY_HEADER and v is not None and v.isdigit():
            return int(v)
    return 0


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return int(time.time() * 1000)


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
    }


def normalise_headers(headers: Any) -> tuple[tuple[str, bytes | None], ...]:
    """Kafka headers (list of pairs or mapping) as a tuple of (str, bytes) pairs."""
    if not headers:
        return ()
    items: Iterable[tuple[Any, Any]] = headers.items() if hasattr(headers, "items") else headers
    out: list[tuple[str, bytes | None]] = []
    for k, v in items:
        key = k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)
        out.append((key, v if v is None or isinstance(v, bytes) else str(v).encode()))
    return tuple(out)
