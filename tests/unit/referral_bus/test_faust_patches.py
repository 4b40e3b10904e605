"""The commit guard of referral_bus/faust_patches.py, on a plain object shaped like Faust's consumer state."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

from referral_bus import faust_patches

TP = TopicPartition("t.in.v1", 0)


def consumer(acked: list[int], committed: int | None) -> Any:
    state = SimpleNamespace(_acked=defaultdict(list), _committed_offset=defaultdict(lambda: None), _gap={})
    state._acked[TP] = acked
    state._committed_offset[TP] = committed
    return state


def guarded() -> Any:
    return faust_patches._held_new_offset(lambda self, tp: max(self._acked[tp]) + 1)


def test_a_hole_of_one_offset_at_the_head_holds_the_commit() -> None:
    # committed 5 means "5 is next": acks from 6 on do not say 5 was processed
    assert guarded()(consumer([6, 7, 8], 5), TP) is None


def test_contiguous_acks_from_the_committed_offset_commit() -> None:
    assert guarded()(consumer([5, 6, 7], 5), TP) == 8


def test_no_commit_yet_or_nothing_acked_is_left_to_faust() -> None:
    assert guarded()(consumer([3, 4], None), TP) == 5
    original_called: list[bool] = []

    def original(self: Any, tp: Any) -> None:
        original_called.append(True)

    assert faust_patches._held_new_offset(original)(consumer([], 5), TP) is None
    assert original_called == [True]


def test_install_is_idempotent_and_wraps_faust() -> None:
    faust_patches.install()
    getmany = Consumer.getmany
    faust_patches.install()
    assert Consumer.getmany is getmany
    assert Recovery.on_recovery_completed.__wrapped__ is not None


def table(counts: dict[str, int | None]) -> Any:
    """A Faust table shaped object whose consumer knows these partition counts."""
    consumer = SimpleNamespace(topic_partitions=counts.get)
    return SimpleNamespace(
        app=SimpleNamespace(consumer=consumer),
        changelog_topic_name="app-t-changelog",
        name="t",
        _verified_source_topics_for_partitions=set(),
    )


def test_a_changelog_missing_from_the_metadata_snapshot_defers_the_partition_check() -> None:
    checked: list[str] = []
    verify = faust_patches._known_partitions_only(lambda self, topic: checked.append(topic))
    verify(table({"src": 4, "app-t-changelog": 0}), "src")  # 0 = not in the snapshot yet, not a mismatch
    assert checked == []
    verify(table({"src": 4, "app-t-changelog": 4}), "src")
    assert checked == ["src"]  # known counts: Faust's own check runs (and raises on a real mismatch)


async def test_the_worker_consumer_gets_the_fetch_settings_chosen_for_its_app() -> None:
    """Faust fixes fetch.min.bytes at 1 and fetch.max.wait.ms at 1,500; the patch applies the chosen ones."""
    from aiokafka import AIOKafkaConsumer

    def factory(self: Any, transport: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)

    create = faust_patches._fetch_settings(factory)
    class App:  # Faust apps are weakly referenced by the patch
        pass

    chosen, other = App(), App()
    faust_patches.fetch_settings(chosen, 16384, 20)
    made = create(SimpleNamespace(app=chosen), None)
    assert (made._fetch_min_bytes, made._fetch_max_wait_ms) == (16384, 20)
    untouched = create(SimpleNamespace(app=other), None)  # an app without chosen settings: Faust's values
    assert (untouched._fetch_min_bytes, untouched._fetch_max_wait_ms) == (1, 1500)
