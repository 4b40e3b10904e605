"""aiokafka's Fetcher._get_actions_per_node in one pass with its lookups hoisted: the same actions, less CPU.

The fetcher's loop calls it each time it wakes (about twice per fetch) and it walks every assigned partition
(49 for intake and the notifier) through a method call, a leader lookup, three properties and a debug log call
each (bench/results/fetch2.md). This takes the same decisions in the same order (so `random.shuffle` orders the
same partitions the same way) and returns what aiokafka's returns; a cached preferred read replica (KIP-392,
rack-aware fetching) goes through aiokafka's own `_select_read_replica`, which may expire it.

One change, a latency bug of aiokafka's: when a partition's records wait for the application longer than the
prefetch backoff (0.1 s: a busy worker), aiokafka fetches the node's other partitions without it, with the full
fetch.max.wait.ms (Faust: 1.5 s). Only one fetch per node is in flight, so when those others are idle the
partition with traffic is not fetched again until that fetch comes back: a 1.5-s stall, seen with and without
fetch sessions (bench/results/fetch2.md). Such a fetch now waits at most the prefetch backoff.

One addition, opt-in per client (`gather`): while records flow (a node's fetch positions moved since its last
fetch), a fetch waits at the broker for the gather bytes, at most the gather wait, so one fetch, one hand-over
and one round of produce requests serve several records instead of one each; once a fetch comes back empty, the
next waits as configured (min bytes 1: it returns as soon as a record lands), so an idle worker polls no more
often than without it (bench/results/fset.md, docs/performance.md).
"""

from __future__ import annotations

import collections
import functools
import logging
import random
import weakref
from typing import Any

from aiokafka.cluster import ClusterMetadata
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.consumer.subscription_state import Assignment, TopicPartitionState
from aiokafka.protocol.fetch import FetchRequest

Actions = tuple[list[tuple[int, Any]], dict[int, list[Any]], float, bool, list[Any]]
GATHER = "_referral_bus_fetch_gather"  # the client's attribute: (bytes, wait ms) while records flow
_positions: weakref.WeakKeyDictionary[Any, dict[Any, int]] = weakref.WeakKeyDictionary()  # fetcher: node: sum


def gather(client: Any, min_bytes: int, max_wait_ms: int) -> None:
    """While records flow, `client`'s fetches wait for `min_bytes`, at most `max_wait_ms` (0: never)."""
    setattr(client, GATHER, (min_bytes, max_wait_ms) if max_wait_ms > 0 else None)


def actions_per_node(self: Any, assignment: Any) -> Actions:
    """The fetcher's next actions as aiokafka's, but a fetch around waiting records holds 0.1 s at most (see above)."""
    fetchable: collections.defaultdict[Any, list[tuple[Any, int]]] = collections.defaultdict(list)
    awaiting_reset: collections.defaultdict[Any, list[Any]] = collections.defaultdict(list)
    backoff_by_nodes: collections.defaultdict[Any, list[float]] = collections.defaultdict(list)
    resume_futures: list[Any] = []
    invalid_metadata = False
    waiting: set[Any] = set()  # nodes with a partition whose records wait for the application
    records, in_flight, states = self._records, self._in_flight, assignment._tp_state
    preferred, leaders = self._preferred_read_replica, self._client.cluster._partitions
    log = aiokafka_fetcher.log
    debug = log.isEnabledFor(logging.DEBUG)
    for tp in assignment.tps:
        tp_state = states.get(tp)
        if preferred and tp in preferred:
            node_id = self._select_read_replica(tp)
        else:
            partitions = leaders.get(tp.topic)
            leader = None if partitions is None else partitions.get(tp.partition)
            node_id = None if leader is None else leader.leader
        if tp in records:
            waiting.add(node_id)
            backoff = records[tp].calculate_backoff()
            if backoff:
                backoff_by_nodes[node_id].append(backoff)
        elif node_id in in_flight:
            continue
        elif node_id is None or node_id == -1:
            if debug:
                log.debug("No leader found for partition %s. Waiting metadata update", tp)
            invalid_metadata = True
        elif tp_state._position is None:
            leader_id = self._client.cluster.leader_for_partition(tp)
            if leader_id is None or leader_id == -1:
                if debug:
                    log.debug("No leader found for partition %s while resetting offset. Waiting metadata update", tp)
                invalid_metadata = True
            else:
                awaiting_reset[leader_id].append(tp)
        elif tp_state._paused:
            resume_futures.append(tp_state._resume_fut)
        else:
            fetchable[node_id].append((tp, tp_state._position))
            if debug:
                log.debug("Adding fetch request for partition %s at offset %d", tp, tp_state._position)
    fetch_requests = []
    max_bytes, max_wait = self._max_partition_fetch_bytes, self._fetch_max_wait_ms
    around_waiting = min(max_wait, round(self._prefetch_backoff * 1000))  # ms, for a fetch that leaves records out
    gathering = getattr(self._client, GATHER, None)
    last = _positions.setdefault(self, {}) if gathering is not None else {}  # node: positions' sum at its last fetch
    for node_id, partition_data in fetchable.items():
        if node_id in backoff_by_nodes or node_id in awaiting_reset:
            continue
        min_bytes, wait = self._fetch_min_bytes, around_waiting if node_id in waiting else max_wait
        if gathering is not None:
            moved = sum(position for _, position in partition_data)
            if last.get(node_id) != moved:  # records were taken since this node's last fetch: they flow
                last[node_id] = moved
                min_bytes, wait = max(min_bytes, gathering[0]), min(wait, gathering[1])
        random.shuffle(partition_data)
        by_topics: collections.defaultdict[str, list[tuple[int, int, int]]] = collections.defaultdict(list)
        for tp, position in partition_data:
            by_topics[tp.topic].append((tp.partition, position, max_bytes))
        request = FetchRequest(
            wait,
            min_bytes,
            self._fetch_max_bytes,
            self._isolation_level,
            list(by_topics.items()),
            rack_id=self._client_rack or "",
        )
        fetch_requests.append((node_id, request))
    timeout = min(map(max, backoff_by_nodes.values())) if backoff_by_nodes else self._fetcher_timeout
    return fetch_requests, awaiting_reset, timeout, invalid_metadata, resume_futures


def supported() -> bool:
    """True while aiokafka keeps the fields this reads (assignment states, partition state, cluster metadata)."""
    fetcher: Any = aiokafka_fetcher.Fetcher
    return (
        {"_position", "_paused", "_resume_fut"} <= set(TopicPartitionState.__init__.__code__.co_names)
        and "_tp_state" in Assignment.__init__.__code__.co_names
        and "_partitions" in ClusterMetadata.__init__.__code__.co_names
        and callable(getattr(fetcher, "_get_actions_per_node", None))
        and callable(getattr(fetcher, "_select_read_replica", None))
    )


def install() -> bool:
    """Replace aiokafka's Fetcher._get_actions_per_node (idempotent); False when its internals changed."""
    fetcher: Any = aiokafka_fetcher.Fetcher
    if fetcher._get_actions_per_node is actions_per_node:
        return True
    if not supported():
        return False
    fetcher._get_actions_per_node = functools.wraps(fetcher._get_actions_per_node)(actions_per_node)
    return True
