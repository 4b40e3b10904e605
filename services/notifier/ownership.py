"""Which partitions this worker owns, and which partition a table entry belongs to.

Faust runs every timer on every worker, and a memory table keeps the keys written before a
rebalance, so the timers must act only on entries of partitions this worker *actively* owns right
now. The retry and acks topics and the tables' changelogs are co-partitioned with the referrals
topic (everything is keyed by case_id), so ownership of a referrals partition covers them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from faust.types import TP

from referral_bus.kafka import key_partition


def case_partition(case_id: str, partitions: int) -> int:
    """The partition the default (murmur2) partitioner gives a case_id key among `partitions`.

    Only for table entries written before they recorded their partition.
    """
    return key_partition(case_id.encode(), partitions)


def partition_of(entry: Mapping[str, Any], partitions: int) -> int:
    """The partition of the event that wrote a table entry, i.e. the entry's changelog partition."""
    partition = entry.get("partition")
    return partition if isinstance(partition, int) else case_partition(entry["case_id"], partitions)


def owned_partitions(app: faust.App, topic_name: str) -> frozenset[int] | None:
    """Partitions of `topic_name` this worker actively owns, or None during a rebalance/recovery."""
    if app.rebalancing or app.in_recovery:
        return None
    return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name)


def still_owned(app: faust.App, topic_name: str, partition: int) -> bool:
    """Whether this worker still actively owns `partition` (re-checked before each timer action)."""
    return not (app.rebalancing or app.in_recovery) and app.assignor.is_active(TP(topic_name, partition))
