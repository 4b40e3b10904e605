"""aiokafka's fetch actions in one pass (referral_bus/fetch_actions.py): the same actions as aiokafka's, every state."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import types
from typing import Any
from unittest import mock

from aiokafka.cluster import ClusterMetadata
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.consumer.fetcher import Fetcher, FetchError, FetchResult
from aiokafka.consumer.subscription_state import Assignment
from aiokafka.structs import BrokerMetadata, PartitionMetadata, TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus import faust_patches, fetch_actions

NOW = 1000.0  # the fetcher module's monotonic clock, frozen


def _frozen_clock() -> Any:
    """The fetcher module's `time` at NOW for both functions compared (backoffs and replica expiry read it).

    No Kafka part is replaced: these compare pure functions (aiokafka's own is the oracle); the real-broker proof is
    tests/integration/test_fetch_actions_broker.py. A `monkeypatch` fixture cannot be used inside a hypothesis test.
    """
    return mock.patch.object(aiokafka_fetcher, "time", types.SimpleNamespace(monotonic=lambda: NOW, time=lambda: NOW))
TOPICS = ("a", "b", "c")
ORIGINAL = getattr(Fetcher._get_actions_per_node, "__wrapped__", Fetcher._get_actions_per_node)  # aiokafka's
partition_states = st.fixed_dictionaries(  # each field's usual value (fetchable) most often, every other one too
    {
        "leader": st.sampled_from([1, 1, 1, 2, 2, "none", "unknown_partition", -1]),  # none: topic not in metadata
        "position": st.one_of(st.integers(0, 10**12), st.integers(0, 10**12), st.none()),  # None: awaiting a reset
        "paused": st.sampled_from([False, False, False, True]),
        "pending": st.sampled_from([None] * 6 + ["records", "records_expired", "error", "error_expired"]),
        "preferred": st.sampled_from([None] * 6 + ["valid", "expired", "unknown_node"]),  # KIP-392 read replica
        "age": st.sampled_from([0.01, 0.03, 0.06]),  # seconds pending records have waited (unexpired: backoffs differ)
    }
)
REPLICAS = {"valid": (3, NOW + 60), "expired": (3, NOW - 1), "unknown_node": (7, NOW + 60)}  # node, expires at
states = st.dictionaries(st.tuples(st.sampled_from(TOPICS), st.integers(0, 7)), partition_states, max_size=30)


def _fetcher(partitions: dict[tuple[str, int], dict[str, Any]], in_flight: set[int], rack: str | None) -> Any:
    """A Fetcher (not started) whose cluster metadata, pending records and replica cache follow `partitions`."""
    fetcher: Any = Fetcher.__new__(Fetcher)
    cluster = ClusterMetadata()
    cluster._brokers = {n: BrokerMetadata(n, "localhost", 9092 + n, None) for n in (1, 2, 3)}
    leaders: dict[str, dict[int, PartitionMetadata]] = {}
    for (topic, partition), state in partitions.items():
        if state["leader"] == "none":
            continue
        by_partition = leaders.setdefault(topic, {})
        if state["leader"] != "unknown_partition":
            by_partition[partition] = PartitionMetadata(topic, partition, state["leader"], [], [], None)
    cluster._partitions = leaders
    fetcher._client = types.SimpleNamespace(cluster=cluster)
    fetcher._records = collections.OrderedDict()
    fetcher._preferred_read_replica = {}
    for (topic, partition), state in partitions.items():
        tp = TopicPartition(topic, partition)
        pending = state["pending"]
        if pending is not None:
            kind = FetchResult.__new__(FetchResult) if pending.startswith("records") else FetchError.__new__(FetchError)
            kind._created, kind._backoff = (NOW - 1.0 if pending.endswith("expired") else NOW - state["age"]), 0.1
            fetcher._records[tp] = kind
        replica = REPLICAS.get(state["preferred"])
        if replica is not None:
            fetcher._preferred_read_replica[tp] = replica
    fetcher._in_flight = set(in_flight)
    fetcher._max_partition_fetch_bytes, fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes = 1 << 20, 1500, 1
    fetcher._fetch_max_bytes, fetcher._isolation_level, fetcher._client_rack = 50 << 20, 0, rack
    fetcher._fetcher_timeout, fetcher._prefetch_backoff = 0.2, 0.1
    return fetcher


async def _assignment(partitions: dict[tuple[str, int], dict[str, Any]]) -> Any:
    """An aiokafka Assignment of `partitions` with their positions and pauses (futures need a running loop)."""
    assignment = Assignment([TopicPartition(t, p) for t, p in partitions])
    for (topic, partition), state in partitions.items():
        tp_state = assignment.state_value(TopicPartition(topic, partition))
        if state["position"] is not None:
            tp_state.seek(state["position"])
        if state["paused"]:
            tp_state.pause()
    return assignment


def _comparable(actions: Any) -> Any:
    """The actions with each FetchRequest as its fields (it has no equality of its own)."""
    requests, resets, timeout, invalid, resumes = actions
    return [(n, dict(vars(r))) for n, r in requests], dict(resets), timeout, invalid, [id(f) for f in resumes]


def _held_shorter(actions: Any, fetcher: Any, cache: dict[Any, Any]) -> Any:
    """aiokafka's actions with the one change: a node's fetch that leaves pending records out waits 100 ms at most."""
    requests, *rest = actions
    fetcher._preferred_read_replica = dict(cache)
    waiting = {fetcher._select_read_replica(tp) for tp in fetcher._records}  # their nodes, as aiokafka chooses
    for node_id, fields in requests:
        if node_id in waiting:
            fields["_max_wait_ms"] = min(fields["_max_wait_ms"], 100)
    return (requests, *rest)


def _run(actions: Any, fetcher: Any, assignment: Any, seed: int, cache: dict[Any, Any]) -> tuple[Any, Any, list[str]]:
    """`actions(fetcher, assignment)` from the same replica cache and random seed: (actions, cache after, logs)."""
    fetcher._preferred_read_replica = dict(cache)
    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]  # a list sink
    aiokafka_fetcher.log.addHandler(handler)
    try:
        random.seed(seed)
        result = _comparable(actions(fetcher, assignment))
    finally:
        aiokafka_fetcher.log.removeHandler(handler)
    return result, fetcher._preferred_read_replica, logged


@settings(max_examples=300, deadline=None)
@given(
    states,
    st.sets(st.sampled_from([1, 2, 3]), max_size=1),
    st.sampled_from([None, "", "rack-a"]),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_the_same_actions_as_aiokafkas_for_every_partition_state(
    partitions: dict[tuple[str, int], dict[str, Any]], in_flight: set[int], rack: str | None, debug: bool, seed: int
) -> None:
    fetcher = _fetcher(partitions, in_flight, rack)
    cache = dict(fetcher._preferred_read_replica)
    level = aiokafka_fetcher.log.level
    aiokafka_fetcher.log.setLevel(logging.DEBUG if debug else logging.INFO)
    loop = asyncio.new_event_loop()
    try:
        assignment = loop.run_until_complete(_assignment(partitions))
        with _frozen_clock():
            theirs = _run(ORIGINAL, fetcher, assignment, seed, cache)
            expected = (_held_shorter(theirs[0], fetcher, cache), *theirs[1:])
            ours = _run(fetch_actions.actions_per_node, fetcher, assignment, seed, cache)
    finally:
        loop.close()
        aiokafka_fetcher.log.setLevel(level)
    assert ours == expected


def test_the_workers_patches_install_it() -> None:
    faust_patches.install()
    assert fetch_actions.supported()
    assert Fetcher._get_actions_per_node.__wrapped__ is ORIGINAL
    assert Fetcher._get_actions_per_node is not ORIGINAL


def _requests(actions: Any) -> dict[int, dict[str, Any]]:
    return {node: fields for node, fields in _comparable(actions)[0]}


@settings(max_examples=200, deadline=None)
@given(states, st.integers(1, 1 << 20), st.integers(1, 3000), st.integers(0, 2**32), st.data())
def test_gathering_changes_only_the_wait_and_bytes_of_nodes_whose_positions_moved(
    partitions: dict[tuple[str, int], dict[str, Any]], gather_bytes: int, gather_wait: int, seed: int, data: Any
) -> None:
    """On: the same requests as off, but a node whose positions moved since its last fetch gathers."""
    plain, gathered = _fetcher(partitions, set(), None), _fetcher(partitions, set(), None)
    fetch_actions.gather(gathered._client, gather_bytes, gather_wait)
    loop = asyncio.new_event_loop()
    try:
        assignment = loop.run_until_complete(_assignment(partitions))

        def both() -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
            with _frozen_clock():
                random.seed(seed)
                expected = _requests(fetch_actions.actions_per_node(plain, assignment))
                random.seed(seed)
                return expected, _requests(fetch_actions.actions_per_node(gathered, assignment))

        def gathering(fields: dict[str, Any]) -> dict[str, Any]:
            wait = min(fields["_max_wait_ms"], gather_wait)
            return {**fields, "_min_bytes": max(fields["_min_bytes"], gather_bytes), "_max_wait_ms": wait}

        expected, first = both()  # no fetch yet: every node's positions are new
        assert first == {node: gathering(fields) for node, fields in expected.items()}
        expected, again = both()  # nothing taken since: as configured
        assert again == expected
        moving = data.draw(st.sampled_from(sorted(expected)), label="node") if expected else None
        if moving is not None:  # records of one partition of that node taken: that node gathers, no other
            name, (partition, *_) = expected[moving]["_topics"][0][0], expected[moving]["_topics"][0][1][0]
            tp_state = assignment.state_value(TopicPartition(name, partition))
            tp_state.seek(tp_state.position + 1)
            expected, third = both()
            assert third == {n: gathering(f) if n == moving else f for n, f in expected.items()}
    finally:
        loop.close()
        fetch_actions.gather(gathered._client, 1, 0)
