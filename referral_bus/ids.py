"""Deterministic ids: `uuid.uuid5` as a string, computed without building a `uuid.UUID` object (3× faster)."""

from __future__ import annotations

import uuid
from hashlib import sha1


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`: SHA-1 of namespace and name, version 5, RFC 4122 variant."""
    h = bytearray(sha1(namespace.bytes + name.encode(), usedforsecurity=False).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"
