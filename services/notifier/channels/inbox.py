"""Inbox channel: the referral document, redacted to the recipient's profile, to referrals.inbox.v1.

The inbox service (services/inbox, docs/inbox.md) keeps these documents and shows each recipient its
own; it never redacts anything itself, so what a recipient sees there is exactly what it was sent.
With per-case sealing on, the document's personal fields travel and stay sealed with the case's key
(`CaseKeys.reseal`); the inbox opens them only to show a page, so erasing the case reaches its copies.
E-mail recipients get the same copy (`WithInboxCopy`), so the signed link in their e-mail opens it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from referral_domain.directory import Recipient
from referral_domain.inboxlink import make_link
from services.notifier.channels.base import Channel
from services.notifier.payload import body

Send = Callable[[bytes, bytes], Awaitable[None]]  # (key, value) to the inbox topic
Seal = Callable[[str, dict[str, Any]], dict[str, Any]]  # (case id, opened case) → its personal fields sealed


class InboxTopic:
    """Produces each referral document to the inbox topic, keyed by case_id like every other record."""

    name = "inbox"

    def __init__(self, send: Send, seal: Seal | None = None) -> None:
        self.send = send
        self.seal = seal  # with per-case sealing: the document's case sealed again, so erasure reaches the inbox

    async def deliver(self, recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any]) -> None:
        """Canonical JSON bytes of the document (as a webhook or partner topic receives it), its case sealed."""
        kept = doc if self.seal is None else {**doc, "case": self.seal(doc["case_id"], doc["case"])}
        await self.send(referral["case_id"].encode(), body(kept))

    async def close(self) -> None:
        """Nothing to release: the Faust producer belongs to the app."""


class WithInboxCopy:
    """Another channel (e-mail) whose referrals are also put in the inbox, before the channel's own delivery."""

    def __init__(self, inner: Channel, inbox: InboxTopic) -> None:
        self.inner = inner
        self.inbox = inbox
        self.name = inner.name

    async def deliver(self, recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any]) -> None:
        """The inbox copy first, so the link in the message opens a referral that is already there."""
        await self.inbox.deliver(recipient, referral, doc)
        await self.inner.deliver(recipient, referral, doc)

    async def close(self) -> None:
        """Close the wrapped channel."""
        await self.inner.close()


def link_maker(
    base_url: str, key: Callable[[], str | None], ttl_seconds: int
) -> Callable[[Recipient, dict[str, Any]], str | None]:
    """A function giving each e-mail its signed inbox link (None while the secret `inbox-link-key` is unset)."""

    def link(recipient: Recipient, referral: dict[str, Any]) -> str | None:
        secret = key()
        if not secret:
            return None
        expires = int(time.time()) + ttl_seconds
        return make_link(base_url, secret, referral["referral_id"], recipient.id, expires)

    return link
