"""The input of every handler: a message exactly as read from Kafka, and its replay count."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceMessage:
    """Where a message came from and what it was, exactly as read from Kafka.

    `timestamp_ms`: the record's timestamp; `broker_time`: the broker stamped it on append (the topic's
    message.timestamp.type is LogAppendTime), so no producer chose it and every replay reads the same.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None
    broker_time: bool = False


def source_message(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: tuple[tuple[str, bytes | None], ...],
    timestamp_ms: int | None,
    broker_time: bool,
) -> SourceMessage:
    """`SourceMessage(...)` with every field, without the frozen dataclass's setattr per field (3× faster).

    The same object (equal, hashed, printed and frozen alike); the worker shell builds one per record.
    """
    message = object.__new__(SourceMessage)
    message.__dict__.update(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        headers=headers,
        timestamp_ms=timestamp_ms,
        broker_time=broker_time,
    )
    return message


REPLAY_HEADER = "referral-bus-replay-count"


def replays_of(source: SourceMessage) -> int:
    """How many times the message was replayed already (`referral-bus deadletter replay` sets the header)."""
    for k, v in source.headers:
        if k == REPLAY_HEADER and v is not None and v.isdigit():
            return int(v)
    return 0


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
