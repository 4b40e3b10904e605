"""Signed session cookies and CSRF tokens (HMAC-SHA256 with the secret `inbox-session-key`).

A session is `base64url(json) "." hmac`: the recipient, a random session id and an expiry; nothing
is kept on the server, so any replica reads it. Every POST carries a CSRF token derived from the
session id (or, before sign-in, from a random pre-session cookie), compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "inbox_session"
PRESESSION_COOKIE = "inbox_pre"
MAX_COOKIE_CHARS = 1024


@dataclass(frozen=True)
class Session:
    """A signed-in recipient."""

    recipient_id: str
    session_id: str
    expires_s: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Sessions:
    """Issues and checks session cookies and CSRF tokens with one key."""

    def __init__(self, key: str, minutes: int) -> None:
        if len(key) < 16:
            raise ValueError("the inbox session key must be at least 16 characters")
        self._key = key.encode()
        self.seconds = minutes * 60

    def _mac(self, purpose: str, payload: str) -> str:
        return hmac.new(self._key, f"{purpose}\n{payload}".encode(), hashlib.sha256).hexdigest()

    def issue(self, recipient_id: str, now_s: int) -> tuple[str, Session]:
        """A new session for `recipient_id` and its cookie value."""
        session = Session(recipient_id, secrets.token_urlsafe(16), now_s + self.seconds)
        payload = _b64(json.dumps({"r": recipient_id, "s": session.session_id, "e": session.expires_s}).encode())
        return f"{payload}.{self._mac('session', payload)}", session

    def read(self, cookie: str | None, now_s: int) -> Session | None:
        """The session of a cookie whose signature is right and that has not expired; otherwise None."""
        if not cookie or len(cookie) > MAX_COOKIE_CHARS or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(self._mac("session", payload).encode(), mac.encode("utf-8", "replace")):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(str(data["r"]), str(data["s"]), int(data["e"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        return session if session.expires_s > now_s else None

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of every form of a session (or of a pre-session, for the sign-in form)."""
        return self._mac("csrf", session_id)

    def check_csrf(self, session_id: str | None, token: str | None) -> bool:
        """True when `token` is the CSRF token of `session_id`."""
        if not session_id or not token:
            return False
        return hmac.compare_digest(self.csrf_token(session_id).encode(), token.encode("utf-8", "replace"))


def new_presession() -> str:
    """A random value for the pre-session cookie (the sign-in form's CSRF token is derived from it)."""
    return secrets.token_urlsafe(16)
