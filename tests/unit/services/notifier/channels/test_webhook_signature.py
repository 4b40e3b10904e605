"""The verification code in docs/webhooks.md, run as a receiver would, against the notifier's real requests.

The real Webhook channel POSTs to a real local HTTP server; the block copied from the document accepts
that request once, and rejects its replay, a changed idempotency key and a changed body.
"""

from __future__ import annotations

from pathlib import Path

from referral_devstack.receivers import WebhookReceiver
from referral_domain.directory import Recipient
from services.notifier.channels.webhook import Webhook
from services.notifier.secrets import Secrets
from tests.support.notifier import recipient as directory_entry
from tests.support.notifier import webhook
from tests.support.webhooks import doc_verifier

SECRET = "doc-test-secret-5521"


async def test_the_documented_verifier_accepts_the_notifiers_request_once(tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    (tmp_path / "webhook-hotline").write_text(SECRET, encoding="utf-8")
    recipient = Recipient.model_validate(directory_entry("hotline", webhook(receiver, "hotline")))
    channel = Webhook(Secrets(tmp_path), timeout_seconds=10)
    try:
        doc = {"document": "referral-bus.referral/v1", "referral_id": "ref-doc-1", "case_id": "case-1"}
        await channel.deliver(recipient, {"referral_id": "ref-doc-1"}, doc)
        await channel.deliver(recipient, {"referral_id": "ref-doc-1"}, doc)  # a retry of the same referral
    finally:
        await channel.close()
        await receiver.stop()
    first, retry = receiver.deliveries
    verify = doc_verifier()
    assert verify(SECRET, first.headers, first.body)
    assert not verify(SECRET, first.headers, first.body)  # replayed: the nonce was accepted already
    assert verify(SECRET, retry.headers, retry.body)  # the notifier's own retry: new nonce, same key
    assert retry.headers["Idempotency-Key"] == first.headers["Idempotency-Key"] == "ref-doc-1"
    fresh = doc_verifier()
    assert not fresh(SECRET, {**first.headers, "Idempotency-Key": "ref-doc-2"}, first.body)
    assert not fresh(SECRET, first.headers, first.body + b" ")
    assert not fresh("another-secret", first.headers, first.body)
    assert fresh(SECRET, first.headers, first.body)
