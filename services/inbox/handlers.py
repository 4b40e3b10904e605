"""Inbox events → read-model entries: documents from the notifier, receipts, and the users' own answers.

Each write goes through `DurableTable` while the event is handled (the changelog partition is the
event's, all keyed by case_id), and the event is acknowledged once the write is on the broker.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from referral_bus import logging as rb_logging
from referral_bus import metrics, summary
from referral_bus.codec import Codec
from referral_bus.errors import InvalidFieldError, RecipientMismatchError
from referral_bus.message import SourceMessage
from referral_domain.lifecycle import Lifecycle
from services.inbox.actions import state_of
from services.inbox.model import apply_ack, apply_receipt, from_document, parse_document
from services.inbox.signouts import parse as parse_signout

log = rb_logging.get_logger()


class InboxHandler:
    """Keeps one entry per referral delivered to an inbox user."""

    def __init__(
        self,
        table: MutableMapping[str, Any],
        codec: Codec,
        users: frozenset[str],
        recipient_of: Mapping[str, str],
        lifecycle: Lifecycle,
    ) -> None:
        self.table = table
        self.codec = codec
        self.users = users
        self.recipient_of = recipient_of  # ack topic name on the broker → its recipient
        self.lifecycle = lifecycle

    async def document(self, msg: SourceMessage) -> None:
        """A referral document the notifier delivered to an inbox user (refused for anyone else)."""
        doc = parse_document(msg.value or b"")
        if doc["recipient_id"] not in self.users:
            raise InvalidFieldError("the document's recipient is not an inbox user", field="recipient_id")
        rid = doc["referral_id"]
        self.table[rid] = from_document(doc, self.table.get(rid))
        summary.event(log, "referral in inbox", referral_id=rid, case_id=doc["case_id"])

    async def receipt(self, msg: SourceMessage) -> None:
        """A state change of a referral; receipts of referrals not in the inbox are skipped."""
        receipt = self.codec.decode(msg.value or b"", "DeliveryReceipt")
        entry = self.table.get(receipt["referral_id"])
        if entry is not None and entry["recipient_id"] == receipt["recipient_id"]:
            self.table[receipt["referral_id"]] = apply_receipt(entry, receipt, state_of(self.lifecycle, receipt))

    async def ack(self, msg: SourceMessage) -> None:
        """An inbox user's own answer, recorded in the history of its referral (the topic says who answered)."""
        ack = self.codec.decode(msg.value or b"", "Acknowledgement")
        if ack["recipient_id"] != self.recipient_of.get(msg.topic):
            raise RecipientMismatchError("acknowledgement on another recipient's topic", field="recipient_id")
        entry = self.table.get(ack["referral_id"])
        if entry is not None and entry["recipient_id"] == ack["recipient_id"]:
            self.table[ack["referral_id"]] = apply_ack(entry, ack)


class SignOutHandler:
    """Keeps each signed-out session id (its expiry as value) in the changelogged `signouts` table."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table

    async def event(self, msg: SourceMessage) -> None:
        """One sign-out (written while its event is handled: the changelog partition is the event's)."""
        session_id, expires_s = parse_signout(msg.value)
        self.table[session_id] = expires_s
        metrics.count("inbox", "signed_out")
