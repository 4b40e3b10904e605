"""The stall watchdog's decision: exit only with work waiting, no progress, and a broker that answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from referral_bus import watchdog
from referral_bus.settings import KafkaSettings
from referral_bus.watchdog import EXIT_STALLED, Progress, Watchdog, behind, position_of


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class FakeConsumer:
    """Only what the watchdog reads of Faust's consumer."""

    read: dict[TP, int | None]
    committed: dict[TP, int | None]

    def assignment(self) -> set[TP]:
        return set(self.read)

    @property
    def _read_offset(self) -> dict[TP, int | None]:
        return self.read

    @property
    def _committed_offset(self) -> dict[TP, int | None]:
        return self.committed


@dataclass
class FakeApp:
    consumer: FakeConsumer
    tables: Any = field(default_factory=lambda: type("T", (), {"changelog_topics": {"app-table-changelog"}})())


def test_position_is_the_commit_not_the_read_offset() -> None:
    assert position_of(None, None) == 0
    assert position_of(9, None) == 0  # read but never committed: all of it still owed
    assert position_of(9, 7) == 7  # read ahead of the commit (buffered, maybe never acknowledged)
    assert position_of(None, 12) == 12


def test_behind_lists_partitions_with_records_beyond_the_position() -> None:
    positions = {("a", 0): (9, 10), ("a", 1): (7, 5)}
    assert behind(positions, {("a", 0): 10, ("a", 1): 8}) == {("a", 1): 3}


def test_progress_measures_time_since_offsets_last_moved() -> None:
    p = Progress(timeout=10, since=0.0)
    assert p.observe({"tp": (1, 1)}, now=0.0) == 0.0
    assert p.observe({"tp": (1, 1)}, now=7.0) == 7.0
    assert p.observe({"tp": (2, 1)}, now=8.0) == 0.0


def _dog(
    monkeypatch: pytest.MonkeyPatch, consumer: FakeConsumer, ends: dict[tuple[str, int], int] | Exception
) -> tuple[Watchdog, list[int]]:
    async def fake_end_offsets(kafka: KafkaSettings, partitions: list[Any], timeout: float = 1.0) -> Any:
        if isinstance(ends, Exception):
            raise ends
        return ends

    monkeypatch.setattr(watchdog, "broker_end_offsets", fake_end_offsets)
    exits: list[int] = []
    exit_fn: Callable[[int], Any] = exits.append
    dog = Watchdog(FakeApp(consumer), KafkaSettings(), 60, service="test", exit=exit_fn)
    return dog, exits


async def test_exits_when_records_wait_and_nothing_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    tp = TP("in", 0)
    dog, exits = _dog(monkeypatch, FakeConsumer({tp: 4}, {tp: 5}), {("in", 0): 9})
    assert not await dog.check(now=0.0)
    assert not await dog.check(now=59.0)
    assert await dog.check(now=61.0)
    assert exits == [EXIT_STALLED]


async def test_stays_when_there_is_nothing_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    tp = TP("in", 0)
    dog, exits = _dog(monkeypatch, FakeConsumer({tp: 8}, {tp: 9}), {("in", 0): 9})
    await dog.check(now=0.0)
    assert not await dog.check(now=100.0)
    assert exits == []


async def test_stays_while_the_broker_does_not_answer_and_waits_a_full_window_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tp = TP("in", 0)
    dog, exits = _dog(monkeypatch, FakeConsumer({tp: 4}, {tp: 5}), ConnectionError("down"))
    await dog.check(now=0.0)
    assert not await dog.check(now=100.0)
    assert exits == []
    assert dog.progress.since == 100.0


async def test_progress_on_changelogs_counts_but_their_lag_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    log_tp = TP("app-table-changelog", 0)
    dog, exits = _dog(monkeypatch, FakeConsumer({log_tp: 1}, {log_tp: None}), {("app-table-changelog", 0): 50})
    await dog.check(now=0.0)
    assert not await dog.check(now=100.0)  # only a changelog assigned: no stream work can be waiting
    assert exits == []


def test_zero_timeout_installs_nothing() -> None:
    class NoTimers:
        def timer(self, *a: Any, **k: Any) -> Any:
            raise AssertionError("no timer expected")

    dog = Watchdog(NoTimers(), KafkaSettings(), 0, service="test")
    dog.install()
