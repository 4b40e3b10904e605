"""Histogram values handed over per series (`histogram_batch.record_all`) export what a `record` per value does."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Histogram, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from referral_bus import histogram_batch, metrics

SERIES = [{"stage": "intake", "outcome": "ok"}, {"stage": "intake", "outcome": "dead_lettered"}, {"channel": "webhook"}]
GOOD = st.one_of(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.floats(min_value=0, allow_infinity=False, allow_nan=False),
    st.integers(min_value=0, max_value=20_000),
    st.sampled_from([0.0, -0.0, 5.0, 10.0, 75.0, 7500.0, 10000.0, 1e-300]),  # on the default bounds, zeros
)
BAD = st.sampled_from([-1.0, -1e-9, math.inf, math.nan, -3, True])
OPS = st.lists(
    st.one_of(st.tuples(st.integers(0, len(SERIES) - 1), GOOD), st.tuples(st.integers(0, 2), BAD), st.just("collect")),
    max_size=60,
)


def _side(
    readers: int, exemplars: Any, views: list[View], delta: bool = False
) -> tuple[list[InMemoryMetricReader], Any]:
    """Readers on a provider of their own, and its stage-latency histogram."""
    temporality: dict[type, AggregationTemporality] = {Histogram: AggregationTemporality.DELTA} if delta else {}
    found = [InMemoryMetricReader(preferred_temporality=temporality or None) for _ in range(readers)]
    provider = MeterProvider(metric_readers=found, exemplar_filter=exemplars, views=views)
    return found, provider.get_meter("referral_bus").create_histogram("referral_bus_stage_latency", unit="ms")


def _points(reader: InMemoryMetricReader) -> list[tuple[Any, ...]]:
    """Every data point's attributes, count, sum (with its type and sign), buckets, min, max and exemplars."""
    data = reader.get_metrics_data()
    out = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                point: Any
                for point in metric.data.data_points:
                    out.append(
                        (
                            metric.name,
                            tuple(sorted((point.attributes or {}).items())),
                            point.count,
                            repr(point.sum),
                            tuple(point.bucket_counts),
                            tuple(point.explicit_bounds),
                            repr(point.min),
                            repr(point.max),
                            len(point.exemplars),
                        )
                    )
    return sorted(out)


def _run(
    ops: list[Any], readers: int = 1, exemplars: Any = None, views: tuple[View, ...] = (), delta: bool = False
) -> tuple[Any, Any]:
    """The same observations and collections both ways; the points of every collection, both ways."""
    exemplars = exemplars or AlwaysOffExemplarFilter()
    ref_readers, ref = _side(readers, exemplars, list(views), delta)
    our_readers, ours = _side(readers, exemplars, list(views), delta)
    kept: dict[int, list[float]] = {}
    ref_points, our_points = [], []
    for op in [*ops, "collect"]:
        if op == "collect":
            for index, values in kept.items():  # what metrics.flush does before a scrape
                histogram_batch.record_all(ours, SERIES[index], values)
            kept = {}
            ref_points.append([_points(r) for r in ref_readers])
            our_points.append([_points(r) for r in our_readers])
        else:
            index, value = op
            ref.record(value, SERIES[index])
            kept.setdefault(index, []).append(value)
    return ref_points, our_points


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_values_handed_over_per_series_export_what_a_record_per_value_does(ops: list[Any]) -> None:
    ref, ours = _run(ops)
    assert ours == ref


@settings(max_examples=100, deadline=None)
@given(OPS, st.lists(st.floats(min_value=-1e3, max_value=1e4, allow_nan=False), min_size=1, max_size=12, unique=True))
def test_the_same_with_two_readers_and_a_view_with_its_own_buckets(ops: list[Any], bounds: list[float]) -> None:
    view = View(
        instrument_name="referral_bus_stage_latency", aggregation=ExplicitBucketHistogramAggregation(sorted(bounds))
    )
    ref, ours = _run(ops, readers=2, views=(view,))
    assert ours == ref


SAMPLED = NonRecordingSpan(SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0xF067AA0BA902B7, False, TraceFlags(1)))


@pytest.mark.parametrize(
    ("exemplars", "views", "delta"),
    [
        (TraceBasedExemplarFilter(), (), False),  # exemplars on (a sampled span is current): `record` per value
        (None, (View(instrument_name="*", attribute_keys={"stage"}),), False),  # a view that drops attributes
        (None, (View(instrument_name="*", aggregation=ExplicitBucketHistogramAggregation(record_min_max=False)),), 0),
        (None, (), True),  # delta readers
    ],
)
def test_where_the_sdk_does_more_than_aggregate_it_is_the_same(
    exemplars: Any, views: tuple[View, ...], delta: bool
) -> None:
    ops = [(i % 3, v) for i, v in enumerate([0.5, 3.0, 12.0, -1.0, 7500.0, 0.0, 2.5e4, 4, 5])] + ["collect"]
    ops += [(0, 1.0), (1, 99.9), (2, 1e9), "collect", (0, 2.0)]
    with trace.use_span(SAMPLED):
        ref, ours = _run(ops, exemplars=exemplars, views=views, delta=delta)
    assert ours == ref
    assert any(points != [[]] for points in ref)
    assert exemplars is None or any(point[-1] for points in ref for point in points[0])


def test_one_record_per_new_series_and_none_after(monkeypatch: pytest.MonkeyPatch) -> None:
    readers, histogram = _side(1, AlwaysOffExemplarFilter(), [])
    calls: list[float] = []
    record = histogram.record

    def counted(value: float, attributes: Any = None, context: Any = None) -> None:
        calls.append(value)
        record(value, attributes)

    monkeypatch.setattr(histogram, "record", counted)
    histogram_batch.record_all(histogram, SERIES[0], [1.0, 2.0, 3.0])
    assert calls == [1.0]  # the first value makes the series' aggregation; the rest are added to it
    histogram_batch.record_all(histogram, SERIES[0], [4.0, 5.0])
    histogram_batch.record_all(histogram, SERIES[0], [])
    assert calls == [1.0]
    assert _points(readers[0])[0][2] == 5


def test_a_broken_aggregation_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    readers, histogram = _side(1, AlwaysOffExemplarFilter(), [])
    histogram.record(1.0, SERIES[0])
    monkeypatch.setattr(histogram_batch, "_SDK", ("not", "the", "sdk"))  # e.g. another SDK version
    histogram_batch.record_all(histogram, SERIES[0], [2.0, 3.0])
    assert _points(readers[0])[0][2] == 3


def test_metrics_keeps_each_series_in_order_and_hands_it_over_at_flush_or_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: list[tuple[str, dict[str, str], list[float]]] = []
    monkeypatch.setattr(histogram_batch, "record_all", lambda h, a, v: handed.append((h.name, a, list(v))))
    monkeypatch.setattr(metrics, "_observed", {})
    monkeypatch.setattr(metrics, "_histogram", lambda name: SimpleNamespace(name=name))
    monkeypatch.setattr(metrics, "SERIES_MAX_VALUES", 3)
    for ms in (1.0, 2.0):
        metrics.stage_latency("routing", "ok", ms)
    metrics.delivery("webhook", "delivered", latency_ms=40)
    metrics.delivery("webhook", "failed")
    assert handed == []
    metrics.stage_latency("routing", "ok", 3.0)  # full: handed over at once
    assert handed == [("referral_bus_stage_latency", {"stage": "routing", "outcome": "ok"}, [1.0, 2.0, 3.0])]
    metrics.stage_latency("routing", "dead_lettered", 9.0)
    metrics.flush()
    assert handed[1:] == [
        ("referral_bus_delivery_latency", {"channel": "webhook"}, [40]),
        ("referral_bus_stage_latency", {"stage": "routing", "outcome": "dead_lettered"}, [9.0]),
    ]
    metrics.flush()
    assert len(handed) == 3
