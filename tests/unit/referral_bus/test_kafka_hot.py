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

from referral_bus import kafka
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


# Kafka's own murmur2 vectors (the Java client's UtilsTest.testMurmur2), as signed 32-bit Java ints
_JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_our_murmur2_gives_the_java_clients_vectors() -> None:
    for data, signed in _JAVA_VECTORS.items():
        assert murmur2(data) == signed & 0xFFFFFFFF


@given(st.binary(min_size=260, max_size=1200))
def test_long_keys_hash_as_aiokafkas_without_keeping_their_unpacker(data: bytes) -> None:
    """Keys of 260 bytes and more get aiokafka's hash; their unpackers are not kept (the kept set stays bounded)."""
    assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF
    assert len(data) >> 2 not in kafka._WORDS
