"""Faust's process spans made cheaper (span_keys): the same header reads and attributes as Faust's, but the key."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.contrib.opentelemetry import OpenTelemetrySensor, _build_getter
from faust.exceptions import AlreadyConfiguredWarning
from faust.types import TP
from faust.types.settings import Settings
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


class _Renamed(Settings):
    """Settings of a subclass that names its group otherwise: asked, not read."""

    @property
    def id(self) -> str:
        return "renamed"

    @id.setter
    def id(self, name: str) -> None:
        object.__setattr__(self, "_id", name)


def test_the_consumer_group_is_fausts_own_settings_id() -> None:
    confs = [
        faust.App("ns.referral-bus-routing").conf,
        faust.App("ns.referral-bus-intake", version=3).conf,  # id with its version
        faust.App("ns.referral-bus-intake").conf,  # the same id without it
        _Renamed("ns.referral-bus-routing"),  # the first's id where Faust's own would keep it
    ]
    ours, faust_sensor = ProcessSpanSensor(), OpenTelemetrySensor()
    event = SimpleNamespace(message=SimpleNamespace(key=None, headers=[]))
    for step, conf in enumerate([*confs, *confs]):
        if step == 5:
            with pytest.warns(AlreadyConfiguredWarning):  # set again (its setter adds the version): the new id
                confs[1].id = "ns.referral-bus-renamed"
        stream = SimpleNamespace(app=SimpleNamespace(conf=conf))
        expected = faust_sensor._span_attributes(stream, event, TP("t", 0), step)  # type: ignore[arg-type]  # a stand-in stream: Faust reads only its app's id
        assert list(ours._span_attributes(stream, event, TP("t", 0), step).items()) == list(expected.items())
