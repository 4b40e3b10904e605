"""Building dead-letter records: original bytes, headers, position, stage and a readable reason.

A dead letter must always fit the broker's size limit, or writing it fails, the worker exits and the
message is replayed for ever: `fit` cuts an original too large to keep whole (the value, then the
headers, then the key; headers first when they are most of it), recording each cut part's size and
sha-256 in `truncated`; the source topic/partition/offset still point at the whole original.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
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
        "truncated": [],
        "original_digest": None if source.value is None else "sha256:" + hashlib.sha256(source.value).hexdigest(),
    }


# Room left under the dead-letter topic's limit for the Kafka record framing, the dead letter's own
# key and the trace headers the producer adds (W3C baggage may be up to 8 KiB); an eighth of tiny limits.
HEADROOM_BYTES = 16_384
MAX_KEY_BYTES = 1024  # a longer original key is kept in the record but not used as the dead letter's key
MAX_TEXT_CHARS = 2000  # message and field: ours, but a field name may echo input


def budget(limit: int) -> int:
    """The largest encoded dead letter for a topic whose record batches may have `limit` bytes."""
    return limit - min(HEADROOM_BYTES, limit // 8)


def letter_key(key: bytes | None) -> bytes | None:
    """The Kafka key of the dead letter: the original key, or its sha-256 when that is too long."""
    if key is None or len(key) <= MAX_KEY_BYTES:
        return key
    return b"sha256:" + hashlib.sha256(key).hexdigest().encode()


def _cut(part: str, data: bytes, kept: int) -> dict[str, Any]:
    return {"part": part, "size": len(data), "kept": kept, "sha256": hashlib.sha256(data).hexdigest()}


def _headers_digest(headers: list[dict[str, Any]]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for h in headers:
        for piece in (h["key"].encode("utf-8"), h["value"] or b""):
            digest.update(len(piece).to_bytes(8, "big") + piece)
            size += len(piece)
    return size, digest.hexdigest()


def fit(record: dict[str, Any], encode: Callable[[dict[str, Any]], bytes], limit: int) -> tuple[dict[str, Any], bytes]:
    """`record` and its encoding, the original cut as little as needed for the encoding to be <= `limit` bytes."""
    record = {**record, "truncated": list(record.get("truncated") or [])}
    for name in ("message", "field"):
        text = record.get(name)
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            record[name] = text[: MAX_TEXT_CHARS - 1] + "…"
    value = encode(record)
    order = ["original_value", "original_headers", "original_key"]
    if _headers_digest(record["original_headers"])[0] > limit // 4:
        order.insert(0, order.pop(1))
    for part in order:
        if len(value) <= limit:
            break
        if not record[part]:
            continue
        if part == "original_headers":
            size, sha = _headers_digest(record[part])
            record["truncated"].append({"part": part, "size": size, "kept": 0, "sha256": sha})
            record[part] = []
            value = encode(record)
            continue
        data = record[part]
        # the cut's own entry (~120 bytes) and varint lengths are covered by the slack
        kept = max(0, len(data) - (len(value) - limit) - 256)
        record[part] = data[:kept]
        record["truncated"].append(_cut(part, data, kept))
        value = encode(record)
        while len(value) > limit and record[part]:  # never expected; guarantees the promise anyway
            record[part] = record[part][: len(record[part]) // 2]
            record["truncated"][-1]["kept"] = len(record[part])
            value = encode(record)
    if len(value) > limit:  # only with a tiny limit: keep the reason, a short message and the position
        record = {**record, "message": record["message"][:200], "field": None}
        value = encode(record)
    if len(value) > limit:
        raise ValueError(f"a dead letter without its original is still {len(value)} bytes, over {limit}")
    return record, value


def without_bytes(record: dict[str, Any]) -> dict[str, Any]:
    """The dead letter as kept after its bytes expire: ids and key, stage, reason, message and the digest only.

    The key stays: an identifier (agency/report id, or a case id), which statistics count dead letters by.
    """
    return {**record, "original_value": None, "original_headers": []}
