"""Webhook signatures: what the notifier sends verifies with the receivers' helper, and nothing else does."""

from __future__ import annotations

import hashlib
import hmac

from services.notifier.signing import sign, verify

SECRET = "s3cret"
BODY = b'{"document":"referral-bus.referral/v1"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_700_000_000, BODY) == "v1=" + expected


def test_verify_accepts_a_fresh_signature() -> None:
    sig = sign(SECRET, 1_700_000_000, BODY)
    assert verify(SECRET, "1700000000", sig, BODY, now=1_700_000_100)


def test_verify_rejects_tampering_wrong_secret_stale_and_garbage() -> None:
    sig = sign(SECRET, 1_700_000_000, BODY)
    assert not verify(SECRET, "1700000000", sig, BODY + b" ", now=1_700_000_000)
    assert not verify("other", "1700000000", sig, BODY, now=1_700_000_000)
    assert not verify(SECRET, "1700000001", sig, BODY, now=1_700_000_000)
    assert not verify(SECRET, "1700000000", sig, BODY, now=1_700_000_000 + 301)
    assert not verify(SECRET, "not-a-number", sig, BODY, now=1_700_000_000)
    assert not verify(SECRET, "1700000000", "v1=00", BODY, now=1_700_000_000)
