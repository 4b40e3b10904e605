"""Webhook signatures: what the notifier sends verifies with the receivers' helper, and nothing else does."""

from __future__ import annotations

import hashlib
import hmac

from services.notifier.signing import (
    IDEMPOTENCY_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    NonceCache,
    sign,
    signed_headers,
    verify,
)

SECRET = "s3cret"
BODY = b'{"document":"referral-bus.referral/v1"}'
NONCE = "0123456789abcdef0123456789abcdef"


def test_signature_is_hmac_sha256_over_version_timestamp_nonce_key_and_body() -> None:
    message = b"v2\n1700000000\n" + NONCE.encode() + b"\nref-1\n" + BODY
    expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_700_000_000, NONCE, "ref-1", BODY) == "v2=" + expected


def test_signed_headers_verify_and_each_request_has_a_new_nonce() -> None:
    a = signed_headers(SECRET, "ref-1", BODY, now=1_700_000_000)
    b = signed_headers(SECRET, "ref-1", BODY, now=1_700_000_000)
    assert a[NONCE_HEADER] != b[NONCE_HEADER] and a[IDEMPOTENCY_HEADER] == "ref-1"
    assert verify(SECRET, a, BODY, now=1_700_000_100)


def test_every_signed_part_is_covered() -> None:
    headers = signed_headers(SECRET, "ref-1", BODY, now=1_700_000_000)
    assert not verify(SECRET, headers, BODY + b" ", now=1_700_000_000)
    assert not verify("other", headers, BODY, now=1_700_000_000)
    assert not verify(SECRET, {**headers, TIMESTAMP_HEADER: "1700000001"}, BODY, now=1_700_000_000)
    assert not verify(SECRET, {**headers, NONCE_HEADER: "f" * 32}, BODY, now=1_700_000_000)
    assert not verify(SECRET, {**headers, IDEMPOTENCY_HEADER: "ref-2"}, BODY, now=1_700_000_000)
    assert not verify(SECRET, headers, BODY, now=1_700_000_000 + 301)
    assert not verify(SECRET, {**headers, TIMESTAMP_HEADER: "not-a-number"}, BODY, now=1_700_000_000)
    assert not verify(SECRET, {**headers, SIGNATURE_HEADER: "v2=00"}, BODY, now=1_700_000_000)
    for missing in (TIMESTAMP_HEADER, NONCE_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER):
        assert not verify(SECRET, {k: v for k, v in headers.items() if k != missing}, BODY, now=1_700_000_000)


def test_a_replayed_request_is_rejected_by_the_nonce_cache() -> None:
    seen = NonceCache()
    headers = signed_headers(SECRET, "ref-1", BODY, now=1_700_000_000)
    assert verify(SECRET, headers, BODY, seen=seen, now=1_700_000_000)
    assert not verify(SECRET, headers, BODY, seen=seen, now=1_700_000_001)  # the same request again
    retry = signed_headers(SECRET, "ref-1", BODY, now=1_700_000_002)  # a genuine retry: new nonce
    assert verify(SECRET, retry, BODY, seen=seen, now=1_700_000_002)


def test_nonce_cache_forgets_only_nonces_whose_timestamps_are_refused_anyway() -> None:
    seen = NonceCache(tolerance_seconds=300)
    assert seen.first_use("a" * 32, 1000.0)
    assert not seen.first_use("a" * 32, 1000.0 + 600)  # still remembered at twice the tolerance
    assert seen.first_use("b" * 32, 1000.0 + 601)  # purged "a" (its timestamp would now be refused)
    assert seen.first_use("a" * 32, 1000.0 + 601)
