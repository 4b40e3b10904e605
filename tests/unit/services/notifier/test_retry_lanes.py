"""Retry lanes: a failed attempt, a breaker deferral and a released parked retry of every priority go to the
retry topic of that priority's lane (topic_catalog.LANES), through the notifier's own handlers."""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast

import pytest

from referral_bus import lanes, topics
from referral_bus import topic_catalog as catalog
from referral_bus.clock import now_ms
from referral_bus.codec import Codec
from referral_bus.lanes import LaneTopics
from referral_bus.message import SourceMessage
from referral_bus.shell import Service
from referral_bus.topic_catalog import Lane, lane_of, retry_topics
from services.notifier.backoff import RetryPolicy
from services.notifier.breaker import Breakers
from services.notifier.deferred_trace import carried, resumed
from services.notifier.deliver import receipt
from services.notifier.errors import DeliveryError
from services.notifier.handlers import Notifier, Tables
from tests.support import notifier as nt
from tests.support.lanes import PRIORITIES
from tests.support.tables import ChangelogTable

CODEC = Codec()
PARTITIONS = 4


class FakeService:
    """What the handlers use of a Service: its codec, topics (by contract name) and sends, recorded."""

    codec = CODEC
    kafka = SimpleNamespace(topic_partitions=PARTITIONS)

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.traceparents: list[str | None] = []  # what each record's `traceparent` header would be (tracing)

    def topic(self, contract: str) -> str:
        return contract

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))
        self.traceparents.append(carried())

    def retries(self) -> list[tuple[str, dict[str, Any]]]:
        """(retry topic, referral) of every send to a retry topic."""
        return [(t, CODEC.decode(v, "Referral")) for t, _, v in self.sent if t in retry_topics()]


class Failing:
    """A deliverer whose every attempt fails with a retryable error."""

    async def deliver(self, referral: dict[str, Any]) -> Any:
        raise DeliveryError("webhook answered HTTP 503", retryable=True)


class Succeeding:
    """A deliverer whose every attempt is delivered."""

    async def deliver(self, referral: dict[str, Any]) -> Any:
        delivered = receipt(referral, "DELIVERED", channel="webhook")
        return SimpleNamespace(duplicate=False, receipt=delivered, disclosure=None)


def _notifier(service: FakeService, deliverer: Any = None) -> Notifier:
    as_service = cast(Service, service)
    tables = Tables(delivered={}, parked={}, state=ChangelogTable(), escalations={}, breakers={}, early_acks=None)
    return Notifier(
        service=as_service,
        topics=nt.named_topics(as_service),
        tables=tables,
        directory=cast(Any, SimpleNamespace(get=lambda rid: None)),
        deliverer=cast(Any, deliverer or Failing()),
        policy=RetryPolicy(6, 1.0, 300.0, 86_400.0),
        breakers=Breakers(1, 30.0),
        breaker_reset_seconds=30.0,
        owned=lambda: frozenset(range(PARTITIONS)),
        still_owned=lambda partition: True,
        gate=cast(Any, SimpleNamespace(admit=lambda facts, rid: None)),
    )


def _message(referral: dict[str, Any], topic: str) -> SourceMessage:
    return SourceMessage(topic, 1, 0, referral["case_id"].encode(), CODEC.encode("Referral", referral))


@pytest.mark.parametrize("priority", PRIORITIES)
async def test_a_failed_attempt_goes_to_its_lanes_retry_topic(priority: str) -> None:
    service = FakeService()
    n = _notifier(service)
    referral = nt.referral("r1", priority=priority)
    await n.handle(_message(referral, lane_of(priority).topic))
    [(topic, retry)] = service.retries()
    assert topic == lane_of(priority).retry and (topic == topics.RETRY_URGENT) == (priority == "P1")
    assert (retry["referral_id"], retry["priority"], retry["attempt"]) == (referral["referral_id"], priority, 1)


@pytest.mark.parametrize("priority", PRIORITIES)
async def test_a_breaker_deferral_goes_to_its_lanes_retry_topic(priority: str) -> None:
    service = FakeService()
    n = _notifier(service)
    n.breakers.get("r1").failure(time.time())  # threshold 1: the recipient is paused
    referral = nt.referral("r1", priority=priority)
    await n.handle(_message(referral, lane_of(priority).topic))
    [(topic, deferred)] = service.retries()
    assert topic == lane_of(priority).retry and (topic == topics.RETRY_URGENT) == (priority == "P1")
    assert (deferred["referral_id"], deferred["attempt"]) == (referral["referral_id"], 0)  # not attempted


@pytest.mark.parametrize("priority", PRIORITIES)
@pytest.mark.parametrize("kept", [True, False], ids=["priority kept", "parked before it was kept"])
async def test_a_parked_retry_keeps_its_priority_and_is_released_to_its_lane(priority: str, kept: bool) -> None:
    service = FakeService()
    n = _notifier(service)
    referral = nt.referral("r1", priority=priority, attempt=1, not_before=int(time.time() * 1000) + 60_000)
    await n.handle(_message(referral, lane_of(priority).retry), from_retry=True)
    entry = n.tables.parked[referral["referral_id"]]
    assert entry["priority"] == priority and service.sent == []  # parked, nothing sent
    if not kept:
        del entry["priority"]  # an entry written before parked entries kept their priority
    entry["not_before"] = 0  # due now
    await n.release_due_retries()
    [(topic, key, value)] = service.sent
    assert topic == lane_of(priority).retry and (topic == topics.RETRY_URGENT) == (priority == "P1")
    assert (key, value) == (referral["case_id"].encode(), base64.b64decode(entry["value"]))  # the bytes as parked


@pytest.mark.parametrize("flags", ["01", "00"], ids=["sampled", "not sampled"])
async def test_a_parked_retry_is_released_in_its_reports_trace_with_its_sampling_decision(flags: str) -> None:
    service = FakeService()
    n = _notifier(service)
    referral = nt.referral("r1", attempt=1, not_before=int(time.time() * 1000) + 60_000)
    parent = f"00-{'ab' * 16}-{'cd' * 8}-{flags}"  # the retry event's process span
    with resumed(parent):
        await n.handle(_message(referral, lane_of(referral["priority"]).retry), from_retry=True)
    n.tables.parked[referral["referral_id"]]["not_before"] = 0  # due now; the timer runs with no span current
    await n.release_due_retries()
    [released] = service.traceparents
    assert released == parent  # not a root of its own: a new trace, sampled apart from its report


@pytest.mark.parametrize("delivered", [False, True], ids=["awaiting a retry", "delivered"])
@pytest.mark.parametrize("flags", ["01", "00"], ids=["sampled", "not sampled"])
async def test_an_overdue_referrals_escalation_continues_its_reports_trace(flags: str, delivered: bool) -> None:
    service = FakeService()
    n = _notifier(service, Succeeding() if delivered else None)
    referral = nt.referral("r1", sla=60)
    parent = f"00-{'ab' * 16}-{'cd' * 8}-{flags}"  # the referral event's process span
    with resumed(parent):
        await n.handle(_message(referral, lane_of(referral["priority"]).topic))  # attempted: delivered, or failed
    sent = len(service.sent)
    await n._check_one(referral["referral_id"], now_ms() + 3_600_000)  # the SLA timer, no span current
    assert service.traceparents[sent:] and set(service.traceparents[sent:]) == {parent}  # ESCALATED receipt


async def test_a_retry_parked_untraced_is_released_untraced() -> None:
    service = FakeService()
    n = _notifier(service)
    referral = nt.referral("r1", attempt=1, not_before=0)
    value = base64.b64encode(CODEC.encode("Referral", referral)).decode()
    n.tables.parked["r1"] = {"case_id": "c", "not_before": 0, "value": value, "partition": 0}  # no trace kept
    await n.release_due_retries()
    assert service.traceparents == [None]


def _readers(lane_topics: LaneTopics) -> dict[str, tuple[Any, Lane]]:
    """Each topic read (the fake service's topics are their contract names) with the lane its reader serves."""
    return {name: (cast(Any, topic), lane) for name, (topic, lane) in lane_topics.by_topic.items()}


def test_lanes_sharing_a_topic_make_one_reader_of_it_the_least_urgent_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    urgent, standard = catalog.LANES
    standard = replace(standard, retry=urgent.retry)  # both lanes' retries on one topic
    monkeypatch.setattr(catalog, "LANES", (urgent, standard))
    monkeypatch.setattr(lanes, "LANES", (urgent, standard))
    retries = LaneTopics(cast(Service, FakeService()), retries=True)
    assert _readers(retries) == {urgent.retry: (urgent.retry, standard)}  # one agent, without the urgent precedence
    assert {cast(Any, retries.of(p)) for p in ("P1", "P4")} == {urgent.retry}
    firsts = LaneTopics(cast(Service, FakeService()))
    assert _readers(firsts) == {urgent.topic: (urgent.topic, urgent), standard.topic: (standard.topic, standard)}
