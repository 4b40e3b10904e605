"""Intake's handlers on the hop path, without Kafka: a verdict that reaches a worker without its pending case.

Two intake workers: the frozen one (a zombie for a moment after its group session) accepts a report, keeps
its case pending and sends the first hop; its table writes reach the changelog only after the other worker
recovered the partition, so the verdict reaches a worker without the pending case and emits nothing. The
report was never acknowledged (a zombie cannot commit): it is read again by whichever worker holds the
partition next, which recovered any prefix of the zombie's writes. The report must then get its Case.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from referral_bus import inflight
from referral_bus.codec import Codec
from referral_bus.message import SourceMessage
from services.intake.accept import Intake, case_id_for, dedup_key, report_key
from services.intake.correlate import Correlator
from services.intake.handlers import IntakeHandlers
from services.intake.pending import Pending
from tests.support.reports import valid_report

codec = Codec()
GONE = object()  # a deleted key in a recorded changelog


@dataclass
class Topic:
    name: str

    def get_topic_name(self) -> str:
        return self.name


@dataclass
class Wire:
    """Every record the workers sent, in order: (topic, key, value)."""

    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    def cases(self, report_id: str) -> list[dict[str, Any]]:
        out = [codec.decode(v, "Case") for t, _, v in self.records if t == "cases"]
        return [c for c in out if c["report"]["report_id"] == report_id]


@dataclass
class FakeService:
    """What the handlers use of `Service`: its codec and `send`."""

    wire: Wire
    codec: Codec = field(default_factory=Codec)

    async def send(self, topic: Topic, key: bytes, value: bytes, headers: Any = None) -> None:
        self.wire.records.append((topic.name, key, value))


class Recorded(dict[str, Any]):
    """A table whose writes are recorded in order in `log` (the changelog they would produce)."""

    def __init__(self, name: str, log: list[tuple[str, str, Any]]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def __setitem__(self, key: str, value: Any) -> None:
        self.log.append((self.name, key, value))
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.log.append((self.name, key, GONE))
        super().__delitem__(key)


@dataclass
class Worker:
    handlers: IntakeHandlers
    log: list[tuple[str, str, Any]]


def worker(wire: Wire, content: dict[str, Any], recovered: Sequence[tuple[str, str, Any]] = ()) -> Worker:
    """An intake worker on the hop path whose tables recovered the changelog records `recovered`."""
    log: list[tuple[str, str, Any]] = []
    tables = {"dedup": Recorded("dedup", log), "pending": Recorded("pending", log)}
    for name, key, value in recovered:
        if value is GONE:
            dict.pop(tables[name], key, None)
        else:
            dict.__setitem__(tables[name], key, value)
    handlers = IntakeHandlers(
        service=FakeService(wire),  # type: ignore[arg-type]  # a stand-in with the sends the handlers use
        intake=Intake(codec, tables["dedup"], clock_skew_ms=60_000),
        correlator=Correlator(content, window_ms=72 * 3_600_000),
        agency_of={},
        same_topic={},
        cases_topic=Topic("cases"),  # type: ignore[arg-type]  # a stand-in topic: only its name is read
        correlation_topic=Topic("correlation"),  # type: ignore[arg-type]  # a stand-in topic: only its name is read
        verdicts_topic=Topic("verdicts"),  # type: ignore[arg-type]  # a stand-in topic: only its name is read
        pending=Pending(tables["pending"]),
    )
    return Worker(handlers, log)


def msg(topic: str, key: bytes, value: bytes) -> SourceMessage:
    return SourceMessage(topic, 0, 0, key, value)


def report_msg(report: dict[str, Any]) -> SourceMessage:
    return msg(
        "intake", report_key(report["agency_id"], report["report_id"]).encode(), codec.encode("CaseReport", report)
    )


async def flow(wire: Wire, at: Worker, start: int) -> int:
    """Deliver every correlation and verdict record sent from `start` on to worker `at`; the next position."""
    i = start
    while i < len(wire.records):
        topic, key, value = wire.records[i]
        if topic == "correlation":
            await at.handlers.correlation(msg(topic, key, value))
        elif topic == "verdicts":
            await at.handlers.verdict(msg(topic, key, value))
        i += 1
    return i


def a_report(keys: int) -> dict[str, Any]:
    return valid_report(
        content_hashes=[{"algorithm": "sha256", "value": f"{i + 1:02x}" * 32} for i in range(keys)],
        content_urls=[],
    )


@given(keys=st.integers(1, 3), recovered=st.integers(0, 8), replays=st.integers(1, 3))
@settings(max_examples=60, deadline=None)
async def test_a_verdict_lost_to_a_worker_without_the_pending_case_does_not_lose_the_case(
    keys: int, recovered: int, replays: int
) -> None:
    wire, content = Wire(), dict[str, Any]()
    report = a_report(keys)
    zombie, other = worker(wire, content), worker(wire, content)
    await zombie.handlers.report(report_msg(report))  # accepted and pending on the zombie: its hop goes out
    sent = await flow(wire, other, 0)  # the hops and the verdict on the worker that recovered without them
    assert wire.cases(report["report_id"]) == []
    # whoever holds the partition next recovered some prefix of the zombie's writes and reads the report again
    later = worker(wire, content, zombie.log[:recovered])
    for _ in range(replays):
        await later.handlers.report(report_msg(report))
        sent = await flow(wire, later, sent)
    cases = wire.cases(report["report_id"])
    assert cases, "the report's case was never emitted"
    assert all(c == cases[0] for c in cases) and cases[0]["case_id"] == case_id_for(
        report["agency_id"], report["report_id"]
    )
    assert later.handlers.intake.emitted(report["agency_id"], report["report_id"])


@contextlib.contextmanager
def unacknowledged() -> Iterator[inflight.Pending]:
    """An event whose sends are not acknowledged yet: its `after_sends` callbacks wait (run them later)."""
    pending = inflight.Pending()
    token = inflight.current.set(pending)
    try:
        yield pending
    finally:
        inflight.current.reset(token)


@given(replays=st.integers(0, 3))
@settings(max_examples=10, deadline=None)
async def test_a_report_replayed_while_pending_hops_again_and_its_case_goes_out_once(replays: int) -> None:
    wire, content = Wire(), dict[str, Any]()
    report = a_report(2)
    one = worker(wire, content)
    await one.handlers.report(report_msg(report))
    for _ in range(replays):  # read again before its verdict came back: a duplicate that hops again
        await one.handlers.report(report_msg(report))
    hops = [r for r in wire.records if r[0] == "correlation"]
    assert len(hops) == 1 + replays
    events = []
    i = 0
    while i < len(wire.records):  # every verdict handled before the first one's sends are acknowledged
        topic, key, value = wire.records[i]
        if topic == "verdicts":
            with unacknowledged() as event:
                await one.handlers.verdict(msg(topic, key, value))
            events.append(event)
        elif topic == "correlation":
            await one.handlers.correlation(msg(topic, key, value))
        i += 1
    assert len(events) == 1 + replays
    assert len(wire.cases(report["report_id"])) == 1
    await one.handlers.report(report_msg(report))  # the mark is visible at once, before it is durable
    assert len(wire.cases(report["report_id"])) == 1 and len(wire.records) == i
    for event in events:
        for done in event.on_sent:
            done()
    assert one.handlers.pending.get(case_id_for(report["agency_id"], report["report_id"])) is None
    assert dict(one.handlers.pending.table.table) == {}


async def test_the_case_carries_the_report_as_our_encoder_writes_it_never_the_agencys_bytes() -> None:
    """A boolean byte 02 decodes as true here and as false in Java's decoder: the Case must not pass it on.

    (An embedding of the report's original body would: bench/results/enc.md.)
    """
    wire = Wire()
    report = valid_report(content_hashes=[], content_urls=[], preservation_requested=False)  # the case goes out now
    off = report_msg(report).value or b""
    on = report_msg({**report, "preservation_requested": True}).value or b""
    [at] = [i for i, (a, b) in enumerate(zip(off, on, strict=True)) if a != b]
    odd = on[:at] + b"\x02" + on[at + 1 :]
    assert codec.decode(odd, "CaseReport")["preservation_requested"] is True
    await worker(wire, {}).handlers.report(msg("intake", report_msg(report).key or b"", odd))
    [value] = [v for t, _, v in wire.records if t == "cases"]
    case = codec.decode(value, "Case")
    assert case["report"]["preservation_requested"] is True
    assert value == codec.encode("Case", case)  # canonical: what our encoder writes for these values


async def _ids_of(report: dict[str, Any], *, seen: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ids on the span and in the log context after the report's event (`seen`: its dedup mark recovered)."""
    agency_id, report_id = report["agency_id"], report["report_id"]
    mark = [("dedup", dedup_key(agency_id, report_id), case_id_for(agency_id, report_id))] if seen else []
    at = worker(Wire(), {}, mark)
    structlog.contextvars.clear_contextvars()
    with TracerProvider().get_tracer("test").start_as_current_span("process") as span:
        await at.handlers.event(report_msg(report))
    context = structlog.contextvars.get_contextvars()
    structlog.contextvars.clear_contextvars()
    attributes = dict(span.attributes or {})  # type: ignore[attr-defined]  # an SDK span
    return {k: v for k, v in attributes.items() if k.endswith("_id")}, context


async def test_an_accepted_report_carries_its_case_and_report_id_on_span_and_log_lines() -> None:
    report = valid_report()
    attributes, context = await _ids_of(report, seen=False)
    case_id = case_id_for(report["agency_id"], report["report_id"])
    assert context == {"case_id": case_id, "report_id": report["report_id"]}
    assert attributes == {"referral_bus.case_id": case_id, "referral_bus.report_id": report["report_id"]}


async def test_a_duplicate_carries_its_case_id_only() -> None:
    report = valid_report()
    attributes, context = await _ids_of(report, seen=True)
    case_id = case_id_for(report["agency_id"], report["report_id"])
    assert context == {"case_id": case_id}
    assert attributes == {"referral_bus.case_id": case_id}
