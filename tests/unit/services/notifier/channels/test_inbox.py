"""The inbox channel: the redacted document to the inbox topic; e-mails carry a signed link to it."""

from __future__ import annotations

import json
import time
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from referral_domain.directory import Recipient
from referral_domain.inboxlink import check_link
from services.notifier.channels.email import message
from services.notifier.channels.inbox import InboxTopic, WithInboxCopy, link_maker
from services.notifier.payload import body

REFERRAL = {"referral_id": "r-1", "case_id": "c-1", "priority": "P2", "ack_sla_seconds": 60}
KEY = "k" * 32


def _plain_text(msg: EmailMessage) -> str:
    """The text part of an e-mail (it must have one)."""
    part = msg.get_body(("plain",))
    assert part is not None, "no text/plain part"
    return str(part.get_content())


def _recipient(channel: dict[str, object]) -> Recipient:
    return Recipient.model_validate(
        {"id": "desk", "name": "desk", "kind": "social_services", "jurisdictions": ["VN"], "channel": channel}
    )


async def test_the_document_goes_to_the_inbox_topic_keyed_by_case() -> None:
    sent: list[tuple[bytes, bytes]] = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append((key, value))

    doc = {"referral_id": "r-1", "case": {"x": 1}}
    await InboxTopic(send).deliver(_recipient({"type": "inbox"}), REFERRAL, doc)
    assert sent == [(b"c-1", body(doc))]
    assert json.loads(sent[0][1]) == doc


async def test_an_email_recipient_gets_the_inbox_copy_before_the_email() -> None:
    order: list[str] = []

    async def send(key: bytes, value: bytes) -> None:
        order.append("inbox")

    class Mail:
        name = "email"

        async def deliver(self, *args: object) -> None:
            order.append("email")

        async def close(self) -> None:
            order.append("closed")

    channel = WithInboxCopy(Mail(), InboxTopic(send))
    await channel.deliver(_recipient({"type": "inbox"}), REFERRAL, {})
    await channel.close()
    assert (channel.name, order) == ("email", ["inbox", "email", "closed"])


def test_the_email_carries_a_signed_link_that_the_inbox_accepts() -> None:
    recipient = _recipient({"type": "email", "to": ["d@example.invalid"]})
    link = link_maker("https://inbox.example/inbox", lambda: KEY, 3600)(recipient, REFERRAL)
    assert link is not None
    msg = message(recipient, REFERRAL, {"case": {}}, link)
    text = _plain_text(msg)
    assert link in text
    url = urlsplit(link)
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    checked = check_link(KEY, url.path.rsplit("/", 1)[1], q["r"], q["e"], q["s"], int(time.time()))
    assert checked.recipient_id == "desk"


def test_no_link_while_the_key_is_unset() -> None:
    recipient = _recipient({"type": "email", "to": ["d@example.invalid"]})
    assert link_maker("https://x/inbox", lambda: None, 60)(recipient, REFERRAL) is None
    assert "inbox" not in _plain_text(message(recipient, REFERRAL, {"case": {}}))


async def test_with_sealing_the_inbox_copy_keeps_the_case_sealed() -> None:
    sent: list[bytes] = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append(value)

    def seal(case_id: str, case: dict[str, object]) -> dict[str, object]:
        return {**case, "sealed_for": case_id}

    doc = {"referral_id": "r-1", "case_id": "c-1", "case": {"x": 1}}
    await InboxTopic(send, seal=seal).deliver(_recipient({"type": "inbox"}), REFERRAL, doc)
    assert json.loads(sent[0]) == {**doc, "case": {"x": 1, "sealed_for": "c-1"}}
    assert doc["case"] == {"x": 1}  # the document the other channels and the disclosure use is untouched
