"""Inbox passwords: stored only as salted PBKDF2-SHA256 hashes (secret `inbox-password-<recipient>`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
MIN_ITERATIONS = 1_000  # tests hash with few rounds; a stored hash below this is refused as malformed
# Compared against when the recipient has no password, so an unknown id costs as long as a wrong password.
_DUMMY = f"{SCHEME}${ITERATIONS}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """`pbkdf2_sha256$<iterations>$<salt>$<hash>` (base64url): what the secret file holds."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches the stored hash; a missing or malformed hash never matches (same cost)."""
    parts = (stored or _DUMMY).split("$")
    ok_format = len(parts) == 4 and parts[0] == SCHEME and parts[1].isdigit() and int(parts[1]) >= MIN_ITERATIONS
    if not ok_format:
        parts = _DUMMY.split("$")
    try:
        salt, expected = _unb64(parts[2]), _unb64(parts[3])
    except (ValueError, TypeError):
        salt, expected, ok_format = b"", b"", False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(parts[1]))
    return hmac.compare_digest(digest, expected) and ok_format and stored is not None
