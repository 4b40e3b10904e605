"""Server-side sign-out: a signed-out session's cookie is refused even if someone copied it.

Sign-out records the session id with its expiry on the inbox's own topic; the worker keeps it in a
changelogged table (restored on restart, written while the sign-out event is handled) until the
cookie would have expired anyway. This worker refuses the session at once, before its event is back,
and refuses every session while the table is still being restored (fail closed after a restart).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from referral_bus.errors import InvalidFieldError

MAX_RECORD_BYTES = 512


def record(session_id: str, expires_s: int) -> bytes:
    """The sign-out event's value (key: the session id): no recipient, nothing personal."""
    return json.dumps({"session_id": session_id, "expires_s": expires_s}, separators=(",", ":")).encode()


def parse(value: bytes | None) -> tuple[str, int]:
    """(session id, expiry in epoch seconds) of a sign-out event; InvalidFieldError for anything else."""
    if not value or len(value) > MAX_RECORD_BYTES:
        raise InvalidFieldError("a sign-out event is empty or too large", field="value")
    try:
        data: Any = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        raise InvalidFieldError("a sign-out event is not JSON", field="value") from None
    sid = data.get("session_id") if isinstance(data, dict) else None
    expires = data.get("expires_s") if isinstance(data, dict) else None
    if not isinstance(sid, str) or not 1 <= len(sid) <= 64:
        raise InvalidFieldError("a sign-out event lacks its session id", field="session_id")
    if not isinstance(expires, int) or isinstance(expires, bool) or expires <= 0:
        raise InvalidFieldError("a sign-out event lacks its expiry", field="expires_s")
    return sid, expires


class SignOuts:
    """Signed-out sessions: those of the changelogged table, and this worker's own until their event is back."""

    def __init__(self, table: Mapping[str, Any], recovered: Callable[[], bool] = lambda: True) -> None:
        self.table = table
        self.recovered = recovered  # False while the table is restored from its changelog: every session refused
        self.local: dict[str, int] = {}  # session id → expiry (s); bounded: pruned of expired ones on each sign-out

    def remember(self, session_id: str, expires_s: int, now_s: int) -> None:
        """Refuse `session_id` on this worker from now on (its event may still be on its way to the table)."""
        self.local = {sid: e for sid, e in self.local.items() if e > now_s}
        self.local[session_id] = expires_s

    def revoked(self, session_id: str) -> bool:
        """Whether the session was signed out (here or by any replica that wrote the table), or may have been."""
        return not self.recovered() or session_id in self.local or self.table.get(session_id) is not None
