"""Acknowledgements that arrive before their referral: kept, bounded, applied once the referral's state appears.

An acknowledgement can overtake its referral (a partner acknowledges from its own topic, a recipient
posts with `case_id` while the notifier is still behind on the referrals topic). It is kept in the
changelogged `early_acks` table, written while handling the acknowledgement's own event (so in its
case's partition, where the referral's state will be), as the message exactly as read; the notifier
applies it when the referral arrives. Nothing is dropped: past the limit, past the time to live, or
not applicable to the referral when it comes, the acknowledgement is dead-lettered with its original
bytes (`invalid_ack`, replayable). Pure: no Faust, no clock.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from referral_bus.errors import AcknowledgementError
from referral_bus.message import SourceMessage

MAX_PER_REFERRAL = 8  # acknowledgements kept for one referral (ACCEPTED then COMPLETED, a few repeats)


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")


def _raw(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _refused(referral_id: str, why: str) -> AcknowledgementError:
    exc = AcknowledgementError(why, field="referral_id")
    exc.referral_id = referral_id
    return exc


def keep(
    current: Mapping[str, Any] | None, msg: SourceMessage, referral_id: str, *, now_ms: int, held: int, limit: int
) -> dict[str, Any]:
    """The `early_acks` entry of `referral_id` with `msg` added, or AcknowledgementError when it cannot be kept.

    `current` is the entry so far (None: the first early acknowledgement of this referral); `held`
    how many referrals have early acknowledgements on this worker, at most `limit`.
    """
    if current is None and held >= limit:
        raise _refused(
            referral_id,
            f"acknowledgement of a referral not seen yet, and {limit} such acknowledgements are already waiting "
            "on this worker (NOTIFIER_EARLY_ACK_LIMIT): replay this dead letter once the referral is delivered",
        )
    kept = list(current["messages"]) if current else []
    if len(kept) >= MAX_PER_REFERRAL:
        raise _refused(referral_id, f"more than {MAX_PER_REFERRAL} acknowledgements of a referral not seen yet")
    kept.append(
        {
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "key": _b64(msg.key),
            "value": _b64(msg.value),
            "headers": [[k, _b64(v)] for k, v in msg.headers],
        }
    )
    first = current["kept_at"] if current else now_ms
    return {"referral_id": referral_id, "kept_at": first, "partition": msg.partition, "messages": kept}


def messages(entry: Mapping[str, Any]) -> list[SourceMessage]:
    """The kept acknowledgements of an entry, exactly as they were read, oldest first."""
    return [
        SourceMessage(
            topic=m["topic"],
            partition=m["partition"],
            offset=m["offset"],
            key=_raw(m["key"]),
            value=_raw(m["value"]),
            headers=tuple((k, _raw(v)) for k, v in m["headers"]),
        )
        for m in entry["messages"]
    ]


def expired(entry: Mapping[str, Any], now_ms: int, ttl_seconds: float) -> bool:
    """True once the entry has waited longer than `ttl_seconds` for its referral."""
    return now_ms - int(entry["kept_at"]) > ttl_seconds * 1000


def expiry_error(referral_id: str, ttl_seconds: float) -> AcknowledgementError:
    """What a kept acknowledgement whose referral never came is dead-lettered with."""
    return _refused(
        referral_id,
        f"acknowledgement of a referral that did not reach this notifier within {ttl_seconds:g}s "
        "(NOTIFIER_EARLY_ACK_TTL_SECONDS): check the referral id and the case_id key, then replay",
    )
