"""Record headers on Kafka sends: the current span's context, exactly once, no span per record (but a dead letter's)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from referral_bus.tracing import with_trace
from tests.support.interpreter import run_python
from tests.support.tracing import console_spans

# A fresh interpreter's set-up: the producer's own send replaced by one that returns the headers it was given.
FAKE_SENDS = """
import asyncio, json
import aiokafka
async def fake_send(self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None):
    return headers
aiokafka.AIOKafkaProducer.send = fake_send
"""

SENDS = FAKE_SENDS + """
from referral_bus import tracing
tracing.configure("probe")
send = aiokafka.AIOKafkaProducer.send
def context(span):
    return [format(span.get_span_context().trace_id, "032x"), format(span.get_span_context().span_id, "016x")]
async def main():
    stale = [("x", b"1"), ("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"), ("tracestate", b"a=b")]
    with tracing.stage_span("probe stage") as stage:
        listed = await send(None, "ns.topic", b"v", key=b"agency-key-77", headers=stale)
        mapped = await send(None, "ns.topic", b"v", headers={"x": b"1"})
        bare = await send(None, "ns.topic", b"v")
        changelog = await send(None, "ns.referral-bus-intake-dedup-changelog", b"v", headers=[("x", b"1")])
        with tracing.send_span("ns.deadletter") as letter:
            dead = await send(None, "ns.deadletter", b"v", key=b"agency-key-77")
    rootless = await send(None, "ns.rootless", b"v", key=b"agency-key-77")
    return {
        "stage": context(stage), "letter": context(letter),
        "listed": listed, "mapped": mapped, "bare": bare, "changelog": changelog, "dead": dead, "rootless": rootless,
    }
result = asyncio.run(main())
tracing.shutdown()
print("RESULT " + json.dumps({k: v if k in ("stage", "letter") else [[n, b.decode()] for n, b in v]
                              for k, v in result.items()}))
"""


def _sends() -> tuple[dict[str, Any], str]:
    out = run_python(SENDS, OTEL_TRACES_EXPORTER="console").stdout
    return json.loads(out.rsplit("RESULT ", 1)[1]), out


def _traceparents(headers: list[list[str]]) -> list[list[str]]:
    return [v.split("-")[1:3] for k, v in headers if k == "traceparent"]


def test_each_record_carries_exactly_one_traceparent_the_current_spans_and_no_send_span() -> None:
    result, out = _sends()
    for name in ("listed", "mapped", "bare"):
        assert _traceparents(result[name]) == [result["stage"]], name
    assert [k for k, _ in result["listed"]] == ["x", "traceparent"]  # the stale context and its state are gone
    assert [k for k, _ in result["mapped"]] == ["x", "traceparent"]
    assert '"name": "ns.topic send"' not in out and '"kind": "SpanKind.PRODUCER"' in out  # the dead letter's only
    assert "agency-key-77" not in out and "messaging.kafka.message.key" not in out


def test_a_changelog_record_gets_no_trace_header() -> None:
    result, out = _sends()
    assert result["changelog"] == [["x", "1"]]
    assert "changelog send" not in out


def test_a_dead_letter_gets_a_send_span_of_its_own_child_of_the_current_span() -> None:
    result, out = _sends()
    assert _traceparents(result["dead"]) == [result["letter"]]
    assert result["letter"][0] == result["stage"][0] and result["letter"][1] != result["stage"][1]
    spans = {s["name"]: s for s in console_spans(out)}
    letter = spans["ns.deadletter send"]
    assert letter["kind"] == "SpanKind.PRODUCER" and letter["parent_id"] == "0x" + result["stage"][1]
    assert letter["attributes"]["messaging.destination.name"] == "ns.deadletter"
    assert letter["attributes"]["messaging.operation.type"] == "publish"


def test_a_record_sent_outside_any_span_starts_a_trace_with_a_root_send_span() -> None:
    result, out = _sends()
    ((trace_id, span_id),) = _traceparents(result["rootless"])
    spans = {s["name"]: s for s in console_spans(out)}
    root = spans["ns.rootless send"]
    assert root["parent_id"] is None and root["kind"] == "SpanKind.PRODUCER"
    assert root["context"]["span_id"] == "0x" + span_id and root["context"]["trace_id"] == "0x" + trace_id


def test_a_record_goes_without_trace_headers_when_they_cannot_be_made() -> None:
    code = FAKE_SENDS + """
from referral_bus import tracing
tracing.configure("probe")
def broken(*args):
    raise RuntimeError("no headers")
tracing.trace_headers = broken
with tracing.stage_span("probe stage"):
    sent = asyncio.run(aiokafka.AIOKafkaProducer.send(None, "ns.topic", b"v", headers=[("x", b"1")]))
print("RESULT " + json.dumps([[k, v.decode()] for k, v in sent]))
"""
    out = run_python(code, OTEL_TRACES_EXPORTER="console").stdout
    assert json.loads(out.rsplit("RESULT ", 1)[1].splitlines()[0]) == [["x", "1"]]


SEQUENCES = FAKE_SENDS + """
from hypothesis import given, settings, strategies as st
from opentelemetry import context as otel_context, trace
from referral_bus import tracing
tracing.configure("probe")
send = aiokafka.AIOKafkaProducer.send
tracer = tracing.tracer()
# a program: "open" a child span made current, "close" the innermost, "send" a record,
# "back" re-attach a context seen before
step = st.sampled_from(["open", "close", "send", "send", "back"])

@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(step, max_size=25), st.randoms(use_true_random=False))
def each_record_names_the_span_current_when_sent(program, rnd):
    async def run():
        stack, seen = [], [otel_context.get_current()]
        for op in program:
            if op == "open":
                span = tracer.start_span("s")
                stack.append((span, otel_context.attach(trace.set_span_in_context(span))))
                seen.append(otel_context.get_current())
            elif op == "close" and stack:
                span, token = stack.pop()
                otel_context.detach(token)
                span.end()
            elif op == "back" and not stack:
                otel_context.attach(rnd.choice(seen))  # a context seen before: a cached one, or none
            elif op == "send":
                current = trace.get_current_span().get_span_context()
                headers = await send(None, "ns.topic", b"v", headers=[("traceparent", b"stale")])
                parents = [v.decode().split("-") for k, v in headers if k == "traceparent"]
                assert len(parents) == 1, headers
                if current.is_valid:
                    assert parents[0][1:3] == [format(current.trace_id, "032x"), format(current.span_id, "016x")]
                else:
                    assert parents[0][1] != "0" * 32  # a root send span of its own
        while stack:
            span, token = stack.pop()
            otel_context.detach(token)
            span.end()
    asyncio.run(run())

each_record_names_the_span_current_when_sent()
print("RESULT ok")
"""


def test_over_any_sequence_of_spans_and_sends_each_record_names_the_span_current_when_sent() -> None:
    out = run_python(SEQUENCES, OTEL_TRACES_EXPORTER="console").stdout
    assert "RESULT ok" in out


_NAMES = st.sampled_from(["traceparent", "tracestate", "baggage", "x", "content-type", "h"])
_HEADERS = st.lists(st.tuples(_NAMES, st.binary(max_size=4)), max_size=8)


@given(_HEADERS, st.booleans(), st.lists(st.sampled_from(["traceparent", "tracestate", "baggage"]), unique=True))
def test_with_trace_puts_each_trace_header_once_after_the_others_in_their_order(
    headers: list[tuple[str, bytes]], as_mapping: bool, injected: list[str]
) -> None:
    given_headers: Any = dict(headers) if as_mapping else headers
    pairs = [(name, b"ctx-" + name.encode()) for name in injected]
    out = with_trace(given_headers, pairs, frozenset(injected))
    others = [(k, v) for k, v in (dict(headers).items() if as_mapping else headers) if k not in injected]
    assert out == others + pairs
    for name in injected:
        assert [v for k, v in out if k == name] == [b"ctx-" + name.encode()]
