"""HMAC-SHA256 webhook signatures: what we send, and the helper receivers use to verify."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Referral-Bus-Signature"
TIMESTAMP_HEADER = "X-Referral-Bus-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>`: HMAC-SHA256 over `<timestamp>.<body>` with the recipient's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when the signature matches and the timestamp is fresh (replays of old requests fail)."""
    if not (timestamp_header.isascii() and timestamp_header.isdigit()):
        return False  # only plain ASCII digits: int() would also take "+12", " 12" or other scripts' digits
    timestamp = int(timestamp_header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    # as bytes: a hostile non-ASCII header must give False, not a TypeError from compare_digest
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature_header.encode("utf-8", "replace"))
