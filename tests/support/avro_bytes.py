"""Hand-made Avro binary pieces for hostile payloads."""

from __future__ import annotations


def varint(n: int) -> bytes:
    """Avro's zig-zag varint of a long (array/map block counts, bytes/string lengths)."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
