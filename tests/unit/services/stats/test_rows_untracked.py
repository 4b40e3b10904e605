"""A case's `facts` row (the events waiting for it) adds nothing the GC walks, and counts as a plain mapping does.

The statistics keep a `facts` row per case for ever (no expiry), so a row that stays tracked makes every full
collection of a long-running worker longer (bench/results/pk.md). Through the real `Aggregator`, its tables as
app.py declares them, events in any order (receipts and decisions before their case wait in the row).
"""

from __future__ import annotations

import gc
import random

from referral_bus.durable import DurableTable
from referral_bus.packed import unpack
from services.stats.aggregate import PACKED, Aggregator
from services.stats.dimensions import Kinds
from tests.support.stats import AGENCIES, RECIPIENTS, generate
from tests.support.tables import recording_table

KINDS = Kinds(AGENCIES, RECIPIENTS)


def test_a_case_s_facts_row_is_untracked_and_counts_as_a_plain_one() -> None:
    data = generate(150, weeks=2, seed=11)
    events = [("decision", d) for d in data.decisions] + [("receipt", r) for r in data.receipts]
    events += [("case", c) for c in data.cases]
    random.Random(4).shuffle(events)  # decisions and receipts before their case: kept pending in its row
    members = recording_table("stats-members", event_partition=2)
    facts = recording_table("stats-facts", event_partition=2, packed=PACKED)
    packed = Aggregator(DurableTable(members), DurableTable(facts), KINDS)
    plain_members: dict[str, int] = {}
    plain_facts: dict[str, dict[str, object]] = {}
    plain = Aggregator(plain_members, plain_facts, KINDS)
    waiting = 0
    for i, (kind, value) in enumerate(events):
        getattr(packed, kind)(value, 2)
        getattr(plain, kind)(value, 2)
        if i == len(events) // 2:
            waiting = sum(1 for f in plain_facts.values() if f.get("pending"))
    assert waiting > 10  # rows held events waiting for their case, read back from the packed text
    assert dict(members.data) == plain_members and len(plain_members) > 600  # the same counts
    assert {k: unpack(v, PACKED) for k, v in facts.data.items()} == plain_facts
    gc.collect()
    walked = [k for k, v in facts.data.items() if gc.is_tracked(v)]
    assert not walked, f"{len(walked)} of {len(facts.data)} facts rows stay tracked"
