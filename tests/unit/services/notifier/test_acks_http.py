"""The ack endpoint's pure parts: which tokens are configured, acceptable ids (bounded reads: bodies.py)."""

from __future__ import annotations

from services.notifier.acks import REFERRAL_ID, ack_tokens


def test_ack_tokens_leaves_out_unconfigured_recipients() -> None:
    configured = {"ack-token-hotline": "tok-1", "ack-token-police": "", "webhook-hotline": "key"}
    tokens = ack_tokens(["hotline", "police", "ngo"], configured.get)
    assert tokens == {"hotline": "tok-1"}


def test_referral_id_pattern() -> None:
    for ok in ("r-1", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c:d", "x" * 128):
        assert REFERRAL_ID.match(ok)
    for bad in ("", "x" * 129, "r/1", "r 1", "r%2F1", "../etc"):
        assert not REFERRAL_ID.match(bad)
