"""Ledger worker: `faust -A services.ledger.app worker`.

The Faust shell only: one agent reads referrals.disclosures.v1 (Disclosure records from the notifier,
Erasure records from `referral-bus erase`) and appends each fact, chained, to referrals.ledger.v1
(handlers.py; the chain is services/ledger/chain.py). Tables: `heads` (partition → its chain's last
seq and digest) and `seen` (entry id → seq), both written in the event's own context.
"""

from __future__ import annotations

from typing import Any

from referral_bus import logging as rb_logging
from referral_bus import topics
from referral_bus.settings import read_secret
from referral_bus.shell import Service
from referral_bus.staged import StagedTable
from services.ledger.handlers import Ledger
from services.ledger.settings import LedgerSettings
from services.ledger.tail import read_last

settings = LedgerSettings()
service = Service("ledger", settings, encodes=("LedgerEntry",))
app = service.app

disclosures_topic = service.topic(topics.DISCLOSURES)
ledger_topic = service.topic(topics.LEDGER)
heads = service.table("heads")
seen = service.table("seen", value_type=int)
_key = read_secret(settings.secrets_dir, "ledger-checkpoint-key")
if _key is None:
    rb_logging.get_logger().warning("no ledger-checkpoint-key: the ledger is chained but its checkpoints unsigned")


async def _tail(partition: int) -> dict[str, Any] | None:
    record = await read_last(service.kafka, topics.name(topics.LEDGER), partition)
    return None if record is None else service.codec.decode(record.value, "LedgerEntry")


ledger = Ledger(
    service=service,
    ledger=ledger_topic,
    heads=StagedTable(heads),
    seen=StagedTable(seen),
    tail=_tail,
    key=_key.encode("utf-8") if _key else None,
    checkpoint_every=settings.checkpoint_every,
)


@app.on_partitions_revoked.connect
async def _forget_reconciled(*args: Any, **kwargs: Any) -> None:
    """After a rebalance a partition's head is checked against the ledger again before the next append."""
    ledger.reconciled.clear()


@app.agent(disclosures_topic)
async def ledger_agent(stream):  # type: ignore[no-untyped-def]  # Faust agents take an untyped stream
    """Every fact chained, one at a time per partition; every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, ledger.fact)
