"""A dead letter carries the digest of its bytes; its bytes-free copy keeps the reason and the digest only."""

from __future__ import annotations

import hashlib

from referral_bus.codec import Codec
from referral_bus.deadletter import dead_letter, without_bytes
from referral_bus.errors import InvalidFieldError
from referral_bus.message import SourceMessage


def test_the_copy_kept_after_the_bytes_expire_holds_no_bytes() -> None:
    value = b"\xc3\x01 raw report with PIIMARK-victim-name"
    source = SourceMessage(topic="t", partition=1, offset=7, key=b"k", value=value, headers=[("h", b"v")])
    record = dead_letter(source, "intake", InvalidFieldError("victim.age_band: not a band", field="victim.age_band"))
    assert record["original_digest"] == "sha256:" + hashlib.sha256(value).hexdigest()
    kept = without_bytes(record)
    encoded = Codec().encode("DeadLetter", kept)
    assert b"PIIMARK" not in encoded and value not in encoded
    assert kept["original_value"] is None and kept["original_headers"] == [] and kept["original_key"] == b"k"
    assert (kept["reason"], kept["stage"], kept["original_digest"]) == (
        "invalid_field",
        "intake",
        record["original_digest"],
    )
