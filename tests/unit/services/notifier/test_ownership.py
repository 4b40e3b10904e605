"""Which partition a notifier table entry belongs to (the pure half of ownership.py)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from services.notifier.ownership import case_partition, partition_of


def test_case_partition_agrees_with_the_producer_default_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for partitions in (1, 3, 4, 12):
        every = list(range(partitions))
        for case_id in ("case-1", "case-2", "0f8fad5b-d9cb-469f-a165-70867728950e", "ü-case", "x" * 128):
            assert case_partition(case_id, partitions) == partitioner(case_id.encode(), every, every)


def test_partition_of_prefers_the_recorded_partition() -> None:
    assert partition_of({"case_id": "case-1", "partition": 3}, 4) == 3
    assert partition_of({"case_id": "case-1", "partition": 0}, 4) == 0
    # entries written before they recorded their partition: where the case_id key goes
    assert partition_of({"case_id": "case-1"}, 4) == case_partition("case-1", 4)
    assert partition_of({"case_id": "case-1", "partition": None}, 4) == case_partition("case-1", 4)
