"""`referral-bus erase CASE_ID --reason CODE`: crypto-shred a case and record the erasure in the ledger.

Deletes the case's key from the key table referrals.casekeys.v1 (a tombstone on every partition that
holds it), so every sealed copy of its personal fields, on any topic, table or dead letter, becomes
unreadable; then produces an `Erasure` record that the ledger worker chains. Non-personal facts (ids,
categories, the decisions, receipts, statistics and the ledger's disclosures) remain. What it cannot
reach: the agency's own intake topic and what recipients already received (docs/data-protection.md).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.errors import ReferralBusError
from referral_bus.kafka import client_kwargs
from referral_bus.settings import KafkaSettings
from referral_devstack.reading import read_to_end

REASONS = ("court_order", "withdrawal", "retention", "other")


async def erase(kafka: KafkaSettings, case_id: str, reason: str) -> tuple[list[int], dict[str, Any]]:
    """Tombstone the case's key wherever it is and produce the Erasure record: (partitions, record)."""
    from aiokafka import AIOKafkaProducer

    keys_topic = topics.name(topics.CASEKEYS)
    held = sorted({r.partition for r in await read_to_end(kafka, keys_topic) if (r.key or b"") == case_id.encode()})
    record = {
        "erasure_id": str(uuid.uuid4()),
        "case_id": case_id,
        "reason": reason,
        "requested_at": int(time.time() * 1000),
    }
    producer = AIOKafkaProducer(**client_kwargs(kafka), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for partition in held or [None]:  # none found: where the partitioner puts the key (a later key is shadowed)
            await producer.send_and_wait(keys_topic, value=None, key=case_id.encode(), partition=partition)
        value = Codec().encode("Erasure", record)
        await producer.send_and_wait(topics.name(topics.DISCLOSURES), value=value, key=case_id.encode())
    finally:
        await producer.stop()
    return held, record


def _erase(args: argparse.Namespace) -> int:
    if not args.case_id.startswith("case-"):
        raise ReferralBusError(f"not a case id: {args.case_id!r} (case ids start with case-)")
    held, record = asyncio.run(erase(KafkaSettings(), args.case_id, args.reason))
    where = f"partition(s) {', '.join(map(str, held))}" if held else "no key found (the case was not sealed?)"
    print(f"erased {args.case_id}: key deleted ({where}); erasure {record['erasure_id']} sent to the ledger")
    print("not reachable: the agency's own intake topic (until its retention) and what recipients already")
    print("received (`referral-bus audit case` lists them)")
    return 0


def register(sub: Any) -> None:
    """Add `erase` to the command line."""
    p = sub.add_parser("erase", help="crypto-shred a case's personal fields and record the erasure in the ledger")
    p.add_argument("case_id")
    p.add_argument("--reason", required=True, choices=REASONS, help="why (a code, never free text about the person)")
    p.set_defaults(func=_erase)
