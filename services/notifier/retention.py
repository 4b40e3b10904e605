"""When a referral's state may be forgotten: once it is closed, plus NOTIFIER_REFERRAL_RETENTION_DAYS.

Closed means no acknowledgement is awaited any more: a final answer (acks.FINAL: completed, declined,
transferred, cancelled), or taken on by the recipient (ACKNOWLEDGED, IN_PROGRESS: each later answer
rewrites the state and so restarts its retention, so the retention must exceed the longest silence
between a recipient's answers). A referral that is delivered and not acknowledged, or not delivered
yet, is never forgotten.
"""

from __future__ import annotations

from typing import Any

from services.notifier.acks import FINAL

CLOSED = FINAL | {"ACKNOWLEDGED", "IN_PROGRESS"}
DAY_MS = 86_400_000


def closed(state: Any) -> bool:
    """Whether a `referral_state` entry belongs to a closed referral."""
    return isinstance(state, dict) and state.get("status") in CLOSED


def retention_ms(days: float) -> int:
    """NOTIFIER_REFERRAL_RETENTION_DAYS in milliseconds."""
    return int(days * DAY_MS)
