"""The ledger's handler: one Disclosure or Erasure event → the chained entries appended to its partition.

One writer per partition: the disclosures topic is keyed by case_id, and the entry for an event of
partition p goes to ledger partition p, chained on the head of p kept in the changelogged `heads`
table (key `p<p>`, written in the event's own context, so in changelog partition p). After a start or
a rebalance the head is reconciled with the ledger's last entry once, so a head write lost in a crash
never forks the chain; `seen` (entry id → seq) drops a repeated event (at-least-once upstream).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from referral_bus import logging as rb_logging
from referral_bus import metrics, summary
from referral_bus.clock import now_ms
from referral_bus.errors import WrongSchemaError
from referral_bus.message import SourceMessage
from referral_bus.shell import Service
from referral_bus.staged import StagedTable
from services.ledger.chain import DISCLOSURE, ERASURE, Fact, Head, append

log = rb_logging.get_logger()

# record on the input topic → (ledger kind, its id field)
KINDS = {"Disclosure": (DISCLOSURE, "disclosure_id"), "Erasure": (ERASURE, "erasure_id")}

Tail = Callable[[int], Awaitable[dict[str, Any] | None]]  # the last LedgerEntry of a ledger partition


def head_key(partition: int) -> str:
    """The `heads` table key of a partition's chain."""
    return f"p{partition}"


@dataclass
class Ledger:
    """Everything the handler needs, built once by app.py."""

    service: Service
    ledger: faust.TopicT
    heads: StagedTable
    seen: StagedTable
    tail: Tail
    key: bytes | None
    checkpoint_every: int
    reconciled: set[int] = field(default_factory=set)  # partitions whose head matched the ledger since start

    async def fact(self, msg: SourceMessage) -> None:
        """Append one fact (and a checkpoint when due) to its partition's chain, once."""
        codec, value = self.service.codec, msg.value or b""
        name = codec.writer_of(value).name
        if name not in KINDS:
            raise WrongSchemaError(f"the ledger takes Disclosure or Erasure records, not {name}")
        kind, id_field = KINDS[name]
        record = codec.decode(value, name)
        entry_id, partition = record[id_field], msg.partition
        if self.seen.get(entry_id) is not None:
            metrics.count("ledger", "duplicate")
            return
        head = await self._head(partition, entry_id)
        if head is None:
            metrics.count("ledger", "duplicate")
            return
        fact = Fact(kind, entry_id, record["case_id"], record, now_ms())
        entries = append(head, partition, fact, key=self.key, checkpoint_every=self.checkpoint_every)
        for e in entries:
            encoded = codec.encode("LedgerEntry", e)
            await self.service.send(self.ledger, record["case_id"].encode(), encoded, partition=partition)
        last = entries[-1]
        self.heads.write_after_sends(head_key(partition), Head(last["seq"], last["digest"]).as_dict())
        self.seen.write_after_sends(entry_id, entries[0]["seq"])
        summary.event(
            log, "ledger appended", kind=kind, partition=partition, seq=entries[0]["seq"], entries=len(entries)
        )
        metrics.count("ledger", kind.lower())

    async def _head(self, partition: int, entry_id: str) -> Head | None:
        """The head to chain on; None when the ledger's last entry is this very fact (appended before a crash)."""
        head = Head.of(self.heads.get(head_key(partition)))
        if partition in self.reconciled:
            return head
        last = await self.tail(partition)
        self.reconciled.add(partition)
        if last is None or last["seq"] <= head.seq:
            return head
        log.warning("ledger head behind the ledger; taking the ledger's", partition=partition, seq=last["seq"])
        tail_head = Head(last["seq"], last["digest"])
        self.heads.write_now(head_key(partition), tail_head.as_dict())
        return None if last["entry_id"] == entry_id else tail_head
