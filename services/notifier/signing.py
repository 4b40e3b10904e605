r"""HMAC-SHA256 webhook signatures over timestamp, nonce, idempotency key and body; the receivers' verifier.

Version `v2`: `HMAC-SHA256(secret, "v2\n<timestamp>\n<nonce>\n<idempotency key>\n" + body)`. The key is
covered, so a captured request cannot be re-sent under another key to slip past the receiver's
duplicate check; the nonce is fresh per request, so a receiver that remembers the nonces it accepted
within the timestamp window rejects every replay (`NonceCache`). docs/webhooks.md holds the same
verifier, self-contained, for receivers to copy; tests run it against the notifier's real requests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Referral-Bus-Signature"
TIMESTAMP_HEADER = "X-Referral-Bus-Timestamp"
NONCE_HEADER = "X-Referral-Bus-Nonce"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_SECONDS = 300
VERSION = "v2"
_NONCE = re.compile(r"^[0-9a-f]{32}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,256}$")  # printable ASCII, no space or line break


def new_nonce() -> str:
    """128 random bits as 32 lower-case hex characters."""
    return secrets.token_hex(16)


def sign(secret: str, timestamp: int, nonce: str, idempotency_key: str, body: bytes) -> str:
    """`v2=<hex>` over the version, timestamp, nonce and idempotency key (one per line), then the body."""
    message = f"{VERSION}\n{timestamp}\n{nonce}\n{idempotency_key}\n".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, idempotency_key: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The four headers of one signed request (a fresh nonce each call)."""
    timestamp = int(time.time() if now is None else now)
    nonce = new_nonce()
    return {
        IDEMPOTENCY_HEADER: idempotency_key,
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, timestamp, nonce, idempotency_key, body),
    }


class NonceCache:
    """Nonces accepted within the tolerance window (a receiver's replay guard; in memory, one process)."""

    def __init__(self, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
        self.tolerance_seconds = tolerance_seconds
        self._seen: dict[str, float] = {}

    def first_use(self, nonce: str, now: float) -> bool:
        """True the first time a nonce is seen; forgets nonces old enough for their timestamp to be refused anyway."""
        horizon = now - 2 * self.tolerance_seconds
        for old in [n for n, at in self._seen.items() if at < horizon]:
            del self._seen[old]
        if nonce in self._seen:
            return False
        self._seen[nonce] = now
        return True


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    seen: NonceCache | None = None,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when the signature matches, the timestamp is fresh and (with `seen`) the nonce is new."""
    timestamp_header = headers.get(TIMESTAMP_HEADER, "")
    nonce, key = headers.get(NONCE_HEADER, ""), headers.get(IDEMPOTENCY_HEADER, "")
    if not (timestamp_header.isascii() and timestamp_header.isdigit()):
        return False  # only plain ASCII digits: int() would also take "+12", " 12" or other scripts' digits
    if not (_NONCE.match(nonce) and _KEY.match(key)):
        return False
    timestamp = int(timestamp_header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, nonce, key, body).encode()
    # as bytes: a hostile non-ASCII header must give False, not a TypeError from compare_digest
    if not hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, "").encode("utf-8", "replace")):
        return False
    return seen is None or seen.first_use(nonce, current)
