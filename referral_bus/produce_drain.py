"""aiokafka's producer drain by node, as Java's producer drains: a node whose first batch is due takes all its batches.

aiokafka lingers each partition's batch on its own clock and sends only the batches whose linger is over, one
request per node in flight. A worker's events write 3–5 records each to as many partitions, a little apart, so at
the first batch's wake-up the others are often still short of theirs: they wait for that request's answer and go
in another (≈ 110 µs of CPU a request, bench/results/abl.md; 0.73–0.88 requests per event at 300/s in intake and
routing, a third of them changelog records only: bench/results/prod.md). Here, as in
Java's `RecordAccumulator.drain`, once one batch of a node is due (its linger over, or full) the node's other
batches join the same request while it stays under `EARLY_REQUEST_BYTES`; a node with no due batch waits as before.

The same records reach the same partitions in the same order per partition: only the first batch of each partition
is taken, the sender keeps one request per node in flight and mutes its partitions until the answer (aiokafka's own
rules, untouched); a record still goes at the latest when its linger is over and its node is free. The sender is
woken for a new batch only when no linger wake-up is pending (or the batch is closed, hence due): every batch lingers
the same time, so the pending wake-up comes before the new batch is due and its drain takes it as early as its own.
"""

from __future__ import annotations

import collections
import functools
from typing import Any

from aiokafka.errors import LeaderNotAvailableError, NotLeaderForPartitionError
from aiokafka.producer import message_accumulator
from aiokafka.producer.message_accumulator import MessageAccumulator, MessageBatch

EARLY_REQUEST_BYTES = 1 << 20  # batches not yet due join a request up to this size (Java's max.request.size default)


def drain_by_nodes(self: Any, ignore_nodes: Any, muted_partitions: Any = frozenset()) -> tuple[dict[int, Any], bool]:
    """The batches to send, by node, as aiokafka's `drain_by_nodes`; a node with a due batch takes the others too."""
    nodes: collections.defaultdict[int, dict[Any, Any]] = collections.defaultdict(dict)
    unknown_leaders_exist = False
    lingering: list[tuple[int, Any, float]] = []  # (leader, tp, remaining linger), in aiokafka's order
    batches = self._batches
    leader_for = self._cluster.leader_for_partition
    for tp in list(batches.keys()):
        if tp in muted_partitions:
            continue
        leader = leader_for(tp)
        if leader is None or leader == -1:
            if batches[tp][0].expired():  # expired with no leader: failed, as aiokafka does
                batch = self._pop_batch(tp)
                batch.failure(exception=NotLeaderForPartitionError() if leader is None else LeaderNotAvailableError())
            unknown_leaders_exist = True
            continue
        if ignore_nodes and leader in ignore_nodes:
            continue
        remaining = batches[tp][0].remaining_linger()
        if remaining:
            lingering.append((leader, tp, remaining))
            continue
        _take(self, nodes[leader], tp)
    remaining_linger_time = None
    sizes: dict[int, int] = {}
    for leader, tp, remaining in lingering:
        taken = nodes.get(leader)
        if taken is not None:
            size = sizes.get(leader)
            if size is None:
                size = sum(batch._builder.size() for batch in taken.values())
            size += batches[tp][0]._builder.size()
            if size <= EARLY_REQUEST_BYTES:
                sizes[leader] = size
                _take(self, taken, tp)
                continue
        remaining_linger_time = min(remaining_linger_time, remaining) if remaining_linger_time else remaining
    for leader in [leader for leader, taken in nodes.items() if not taken]:
        del nodes[leader]  # only empty batches were due there
    _rearm(self, remaining_linger_time)
    return nodes, unknown_leaders_exist


def _take(self: Any, taken: dict[Any, Any], tp: Any) -> None:
    """Pop `tp`'s first batch into the node's request (an empty one is resolved at once, as aiokafka does)."""
    batch = self._pop_batch(tp)
    if not batch.is_empty():
        taken[tp] = batch
    else:
        batch.done_noack()


def _rearm(self: Any, remaining_linger_time: float | None) -> None:
    """The end of aiokafka's drain: a new waiter for the sender, a wake-up when the next lingering batch is due."""
    if not self._waiter_future.done():
        self._waiter_future.set_result(None)
    self._waiter_future = self._loop.create_future()
    if self._wakeup_handle:
        self._wakeup_handle.cancel()
        self._wakeup_handle = None
    if remaining_linger_time:
        self._wakeup_handle = self._loop.call_later(remaining_linger_time, self._wakeup, self._waiter_future)


def append_batch(self: Any, builder: Any, tp: Any) -> Any:
    """A new batch as aiokafka's `_append_batch`; the sender woken only with no wake-up pending, or if it is closed."""
    if self._txn_manager is not None:
        self._txn_manager.maybe_add_partition_to_txn(tp)
    batch = MessageBatch(tp, builder, self._batch_ttl, self._linger_time)
    self._batches[tp].append(batch)
    if not self._waiter_future.done() and (self._wakeup_handle is None or builder.closed()):
        self._waiter_future.set_result(None)
    return batch


_REPLACED = ("drain_by_nodes", "_append_batch")
_READS = {"_batches", "_cluster", "_waiter_future", "_wakeup_handle", "_loop", "_txn_manager", "_batch_ttl"}


def supported() -> bool:
    """True while aiokafka's accumulator has the methods and fields these read (checked against its source names)."""
    accumulator: Any = MessageAccumulator
    names = set(accumulator.__init__.__code__.co_names)
    return (
        all(callable(getattr(accumulator, name, None)) for name in (*_REPLACED, "_pop_batch", "_wakeup"))
        and {*_READS, "_linger_time"} <= names
        and {"_ctime", "_linger_time"} <= set(MessageBatch.__init__.__code__.co_names)
        and callable(getattr(message_accumulator.BatchBuilder, "size", None))
    )


def install() -> bool:
    """Replace the accumulator's drain and batch creation (idempotent); False, aiokafka's kept, if they changed."""
    accumulator: Any = MessageAccumulator
    if accumulator.drain_by_nodes is drain_by_nodes:
        return True
    if not supported():
        return False
    accumulator.drain_by_nodes = functools.wraps(accumulator.drain_by_nodes)(drain_by_nodes)
    accumulator._append_batch = functools.wraps(accumulator._append_batch)(append_batch)
    return True
