"""The Kafka adapter's per-event reads: held partitions from Faust's assignment, key partitions (murmur2, cached)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
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


NATIVE = kafka._load_native()


def test_librdkafkas_murmur2_is_loaded_here() -> None:
    """The C hash is in use where confluent-kafka is installed (a dependency): the tests below check it."""
    assert NATIVE is not None
    kafka._key_hash(b"any key")
    assert kafka._native[0] is not None


@given(st.binary(max_size=300))
def test_the_c_hash_is_aiokafkas(data: bytes) -> None:
    """librdkafka's murmur2 through `hash31`, and a new key's cached hash, are aiokafka's (any bytes, NULs too)."""
    expected = aiokafka_murmur2(data) & 0x7FFFFFFF
    assert kafka.hash31(data, NATIVE) == expected
    assert kafka._key_hash.__wrapped__(data) == expected


def test_a_zero_from_librdkafka_is_worked_out_again() -> None:
    """Its 0 stands for hash 0 or 2³¹−1: the Python hash decides; any other answer is taken as the hash."""
    assert kafka.hash31(b"abc", lambda *_: 0) == murmur2(b"abc") & 0x7FFFFFFF != 0
    assert kafka.hash31(b"abc", lambda *_: 7) == 7


def test_a_c_hash_that_differs_is_not_used() -> None:
    assert kafka.checked(lambda _r, key, n, count, *_: (murmur2(key) & 0x7FFFFFFF) % count) is not None
    assert kafka.checked(lambda _r, key, n, count, *_: (murmur2(key[:-1]) & 0x7FFFFFFF) % count) is None
    assert kafka.checked(lambda _r, key, n, count, *_: (murmur2(key) & 0x3FFFFFFF) % count) is None


def _key_hashing_to(target: int) -> bytes:
    """A 4-byte key whose murmur2 is `target` (each step of a one-word murmur2 undone: odd products, xor-shifts)."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    inverse = pow(m, -1, 1 << 32)
    h = target ^ (target >> 15) ^ (target >> 30)
    h = (h * inverse) & mask
    h ^= (h >> 13) ^ (h >> 26)
    k = (h ^ (((0x9747B28C ^ 4) * m) & mask)) * inverse & mask
    k ^= k >> 24
    return ((k * inverse) & mask).to_bytes(4, "little")


@pytest.mark.parametrize("hash31", [0, 1, 0x7FFFFFFE, 0x7FFFFFFF])
@pytest.mark.parametrize("top_bit", [0, 0x80000000])
def test_the_hashes_at_librdkafkas_modulus_are_exact(hash31: int, top_bit: int) -> None:
    """Keys hashing to 0, 1, 2³¹−2 and 2³¹−1 (librdkafka's 0: the first and the last) partition as aiokafka's."""
    key = _key_hashing_to(hash31 | top_bit)
    assert murmur2(key) == aiokafka_murmur2(key) & 0xFFFFFFFF == hash31 | top_bit
    assert kafka.hash31(key, NATIVE) == kafka._key_hash.__wrapped__(key) == hash31
    assert key_partition(key, 7) == DefaultPartitioner()(key, list(range(7)), list(range(7)))
