"""Webhook HMAC signatures: what receivers verify with services.notifier.signing.verify.

A genuine request verifies; a tampered body, a wrong secret, a forged or malformed signature and a
replayed old (or future) timestamp are all rejected, for any body hypothesis can think of.
"""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.signing import DEFAULT_TOLERANCE_SECONDS, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify

SECRET = "s3cr3t-for-tests"
NOW = 1_800_000_000
NONCE = "00112233445566778899aabbccddeeff"
KEY = "ref-1"


def headers(timestamp: str | int, signature: str) -> dict[str, str]:
    """A request's headers with this timestamp and signature (fixed nonce and idempotency key)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature,
        "X-Referral-Bus-Nonce": NONCE,
        "Idempotency-Key": KEY,
    }


def signed(ts: int, body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Genuine headers for `body` signed at `ts`."""
    return headers(ts, sign(secret, ts, NONCE, KEY, body))


@settings(max_examples=200)
@given(st.binary(max_size=2048))
def test_genuine_request_verifies(body: bytes) -> None:
    assert verify(SECRET, signed(NOW, body), body, now=NOW)


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=2048), st.data())
def test_tampered_body_is_rejected(body: bytes, data: st.DataObject) -> None:
    genuine = signed(NOW, body)
    i = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:i] + bytes([body[i] ^ flip]) + body[i + 1 :]
    assert not verify(SECRET, genuine, tampered, now=NOW)
    assert not verify(SECRET, genuine, body + b" ", now=NOW)
    assert not verify(SECRET, genuine, body[:-1], now=NOW)


@settings(max_examples=100)
@given(st.integers(min_value=DEFAULT_TOLERANCE_SECONDS + 1, max_value=10 * 365 * 86400))
def test_replayed_old_or_future_timestamp_is_rejected(age: int) -> None:
    body = b'{"referral_id":"ref-1"}'
    for ts in (NOW - age, NOW + age):
        # a correctly signed request, replayed (or pre-dated) outside the tolerance window
        assert not verify(SECRET, signed(ts, body), body, now=NOW)


def test_timestamp_inside_the_window_verifies_and_the_default_clock_is_used() -> None:
    body = b"{}"
    ts = int(time.time()) - 10
    assert verify(SECRET, signed(ts, body), body)


def test_re_signed_timestamp_does_not_carry_an_old_signature() -> None:
    """Moving the timestamp header forward without the secret breaks the signature."""
    body = b'{"a":1}'
    old = NOW - 3600
    assert not verify(SECRET, headers(NOW, sign(SECRET, old, NONCE, KEY, body)), body, now=NOW)


@settings(max_examples=200)
@given(st.text(max_size=80), st.text(max_size=80))
def test_forged_or_malformed_headers_are_rejected(timestamp: str, signature: str) -> None:
    body = b"{}"
    if timestamp.isascii() and timestamp.isdigit() and signature == sign(SECRET, int(timestamp), NONCE, KEY, body):
        return
    assert not verify(SECRET, headers(timestamp, signature), body, now=NOW)


def test_wrong_secret_is_rejected() -> None:
    body = b"{}"
    assert not verify(SECRET, signed(NOW, body, "another-secret"), body, now=NOW)
    assert not verify(SECRET, headers(NOW, "v2=" + "0" * 64), body, now=NOW)
    assert not verify(SECRET, headers(NOW, ""), body, now=NOW)


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=80))
def test_hostile_signature_with_a_fresh_timestamp_is_false_not_an_error(signature: str) -> None:
    """Non-ASCII or junk signature headers with a valid, fresh timestamp: False, never an exception."""
    assert not verify(SECRET, headers(NOW, signature), b"{}", now=NOW)


def test_non_ascii_signature_header() -> None:
    assert not verify(SECRET, headers(NOW, "v2=é"), b"{}", now=NOW)
