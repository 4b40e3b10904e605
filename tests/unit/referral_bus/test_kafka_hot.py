"""The Kafka adapter's per-event reads: held partitions from Faust's assignment, key partitions (murmur2, cached)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from faust.assignor.client_assignment import ClientAssignment
from faust.assignor.partition_assignor import PartitionAssignor
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.kafka import KeyPartitioner, held_partitions, key_partition, murmur2

TOPIC, CONTENT, CLAIMS = "ns.referrals.correlation.v1", "ns.content-changelog", "ns.claims-changelog"
PARTITIONS = 8
_TOPICS = st.sampled_from([TOPIC, CONTENT, CLAIMS, "ns.referrals.intake.a.v1", "ns.referrals.intake.b.v1"])
_ACTIVES = st.dictionaries(_TOPICS, st.lists(st.integers(0, PARTITIONS - 1), unique=True))


def _app(assignor: Any) -> Any:
    cluster = SimpleNamespace(partitions_for_topic=lambda topic: set(range(PARTITIONS)))
    return SimpleNamespace(
        rebalancing=False,
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=SimpleNamespace(is_set=lambda: True))),
        consumer=SimpleNamespace(
            _thread=SimpleNamespace(_consumer=SimpleNamespace(_client=SimpleNamespace(cluster=cluster)))
        ),
        assignor=assignor,
    )


@given(_ACTIVES)
def test_faust_assignment_and_its_tp_set_give_the_same_held_partitions(actives: dict[str, list[int]]) -> None:
    faust_assignor = SimpleNamespace(_assignment=ClientAssignment(actives=actives, standbys={}))
    tps = PartitionAssignor.assigned_actives(faust_assignor)  # type: ignore[arg-type]  # Faust's own method on a stand-in
    only_the_set = SimpleNamespace(assigned_actives=lambda: tps)  # no `_assignment`: the fallback path
    expected = {tp.partition for tp in tps if tp.topic == TOPIC}
    for changelog in (CONTENT, CLAIMS):
        expected &= {tp.partition for tp in tps if tp.topic == changelog}
    for assignor in (faust_assignor, only_the_set):
        assert held_partitions(_app(assignor), TOPIC, CONTENT, CLAIMS) == (PARTITIONS, frozenset(expected))


@given(st.binary(max_size=64) | st.none(), st.integers(1, 64))
def test_the_cached_partitioner_is_aiokafkas(key: bytes | None, partitions: int) -> None:
    """Aiokafka's default partition for every key (twice: the second from the cache); no key: an available one."""
    all_partitions, available = list(range(partitions)), list(range(0, partitions, 2))
    if key is None:
        assert KeyPartitioner()(None, all_partitions, available) in available
        return
    expected = DefaultPartitioner()(key, all_partitions, available)
    assert KeyPartitioner()(key, all_partitions, available) == expected == key_partition(key, partitions)
    assert KeyPartitioner()(key, all_partitions, available) == expected


@given(st.binary(max_size=200))
def test_our_murmur2_is_aiokafkas(data: bytes) -> None:
    """Every length (each tail of 0–3 bytes), every byte value: the same unsigned 32-bit hash as aiokafka's."""
    assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF
