"""Faust's process spans made cheaper (span_keys): the same header reads and attributes as Faust's, but the key."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.contrib.opentelemetry import OpenTelemetrySensor, _build_getter
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.span_keys import HeaderGetter, ProcessSpanSensor
from referral_bus.tracing import KEY_ATTRIBUTE

_NAMES = st.sampled_from(["traceparent", "tracestate", "baggage", "x", "content-type", "h"])
_VALUES = st.one_of(st.none(), st.binary(max_size=6), st.text(max_size=4), st.integers(0, 9))


@given(st.one_of(st.none(), st.lists(st.tuples(_NAMES, _VALUES), max_size=8)), st.booleans(), _NAMES)
def test_our_header_getter_reads_what_fausts_reads(
    headers: list[tuple[str, Any]] | None, as_mapping: bool, key: str
) -> None:
    carrier: Any = dict(headers) if as_mapping and headers is not None else headers
    faust, ours = _build_getter(), HeaderGetter()
    assert ours.get(carrier, key) == faust.get(carrier, key)
    assert ours.keys(carrier) == faust.keys(carrier)


_EVENTS = st.tuples(
    st.sampled_from(["ns.referrals.cases.v1", "ns.referrals.intake.v1"]),
    st.integers(0, 3),
    st.integers(0, 2**40),
    st.sampled_from([None, "ns.referral-bus-routing", "ns.referral-bus-intake"]),
    st.one_of(st.none(), st.binary(max_size=8), st.text(max_size=8)),
)


@given(st.lists(_EVENTS, min_size=1, max_size=12))
def test_process_span_attributes_are_fausts_without_the_record_key(events: list[tuple[Any, ...]]) -> None:
    ours, faust = ProcessSpanSensor(), OpenTelemetrySensor()
    for topic, partition, offset, group, key in events:  # repeats: the partition's attributes are made once
        stream = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(id=group)))
        event = SimpleNamespace(message=SimpleNamespace(key=key, headers=[]))
        expected = faust._span_attributes(stream, event, TP(topic, partition), offset)  # type: ignore[arg-type]  # a stand-in stream: Faust reads only its app's id
        expected.pop(KEY_ATTRIBUTE, None)
        got = ours._span_attributes(stream, event, TP(topic, partition), offset)
        assert list(got.items()) == list(expected.items())
