"""An inbox entry (its document and history) adds nothing the GC walks, and its page is the page of a plain one.

The inbox keeps an entry per referral delivered to an inbox user for ever (no expiry), so an entry that stays
tracked makes every full collection of a long-running worker longer (bench/results/pk.md). Through the real
`InboxHandler`, its table as app.py declares it: a document, its DELIVERED receipt, the recipient's answer and
the receipt that acknowledges it; then the referral's page, from that table and from a plain mapping.
"""

from __future__ import annotations

import dataclasses
import gc
import json
from typing import Any

from referral_bus.codec import Codec
from referral_bus.durable import DurableTable
from referral_bus.message import SourceMessage
from referral_domain.lifecycle import Lifecycle
from services.inbox.handlers import InboxHandler
from services.inbox.model import PACKED
from services.inbox.web import Inbox, Request
from services.notifier.deliver import receipt
from tests.support.inbox import NOW_MS, document, signed_in_cookies
from tests.support.tables import recording_table

CODEC = Codec()
POLICE = "vn-police-ha-noi"
ACKS = "referrals.acks.police"
ROWS = 40


def _events(i: int) -> list[tuple[str, SourceMessage]]:
    """A document for POLICE, its DELIVERED receipt, POLICE's answer (ACCEPTED) and the ACKNOWLEDGED receipt."""
    doc = document(f"ref-{i}", POLICE, victim={"name": "Nguyễn", "age": 9.5, "tags": []}, linked_reports=[{}])
    ack = {"referral_id": doc["referral_id"], "recipient_id": POLICE, "outcome": "ACCEPTED"}
    ack |= {"acknowledged_at": NOW_MS + 2, "action_id": f"ref-{i}/ACCEPTED", "note": "đã nhận"}

    def receipt_msg(status: str) -> SourceMessage:
        value = receipt(doc, status, channel="inbox") | {"outcome_code": "ACCEPTED" if status != "DELIVERED" else None}
        return SourceMessage("referrals.receipts", 0, i, b"k", CODEC.encode("DeliveryReceipt", value))

    return [
        ("document", SourceMessage("referrals.inbox", 0, i, b"k", json.dumps(doc).encode())),
        ("receipt", receipt_msg("DELIVERED")),
        ("ack", SourceMessage(ACKS, 0, i, b"k", CODEC.encode("Acknowledgement", ack))),
        ("receipt", receipt_msg("ACKNOWLEDGED")),
    ]


async def test_an_inbox_entry_is_untracked_and_its_page_is_a_plain_entry_s(inbox: Inbox, lifecycle: Lifecycle) -> None:
    table = recording_table("inbox-rows", event_partition=0, packed=PACKED)
    plain: dict[str, Any] = {}
    handlers = [
        InboxHandler(t, CODEC, frozenset({POLICE}), {ACKS: POLICE}, lifecycle) for t in (DurableTable(table), plain)
    ]
    for i in range(ROWS):
        for kind, msg in _events(i):
            for handler in handlers:
                await getattr(handler, kind)(msg)
    assert len(table.data) == ROWS and len(plain["ref-0"]["history"]) == 3  # two receipts and the answer
    cookies, _ = await signed_in_cookies(inbox, POLICE)
    pages = []
    for store in (table, plain):
        reply = await dataclasses.replace(inbox, store=store).detail(Request(cookies=cookies), "ref-7")
        pages.append((reply.status, reply.body, reply.disclosure))
    assert pages[0] == pages[1] and pages[0][0] == 200 and "đã nhận" in pages[0][1]  # the same page, history read
    gc.collect()
    walked = [k for k, v in table.data.items() if gc.is_tracked(v)]
    assert not walked, f"{len(walked)} of {ROWS} inbox entries stay tracked"
