"""A histogram series' values handed to the OpenTelemetry SDK in one pass: what a `record` per value aggregates.

`Histogram.record` costs ≈ 5–10 µs a value (a Measurement, a context read, the attributes copied and hashed,
the exemplar filter, two locks). `record_all` adds a series' values, in order, to the SDK's explicit-bucket
aggregation under its lock, as its `aggregate` does one value at a time: the same sum (added in the same order),
bucket counts, min and max. Only where that is all `record` would do (an enabled SDK histogram, exemplars off,
cumulative readers, no view filtering attributes, finite non-negative values); anything else is `record` per value.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.metrics import Histogram
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter

try:  # the SDK's private parts the fast path adds to (tests/unit/referral_bus/test_histogram_batch.py pins them)
    from opentelemetry.sdk.metrics._internal import _view_instrument_match, aggregation, instrument

    # (the SDK's histogram, its explicit-bucket aggregation, the key of a series' attributes)
    _SDK: Any = (
        instrument._Histogram,
        aggregation._ExplicitBucketHistogramAggregation,
        _view_instrument_match._hash_attributes,
    )
except (ImportError, AttributeError):  # pragma: no cover - another SDK version: `record` per value
    _SDK = None

log = logging.getLogger(__name__)


def record_all(histogram: Histogram, attributes: Mapping[str, str], values: Sequence[float]) -> None:
    """Every value of one series, in order, as `histogram.record(value, attributes)` would count it. Never raises."""
    if not values:
        return
    found = _aggregations(histogram, attributes, values)
    if found == []:  # the series' first value: `record` makes its aggregation (or counts it in overflow)
        histogram.record(values[0], attributes)
        values = values[1:]
        found = _aggregations(histogram, attributes, values) or None
    if found is None:
        for value in values:
            histogram.record(value, attributes)
        return
    for aggregation in found:
        try:
            _add(aggregation, values)
        except Exception as exc:  # noqa: BLE001 - telemetry never raises (the values are checked: not expected)
            log.debug("histogram values dropped: %s", type(exc).__name__)


def _aggregations(histogram: Any, attributes: Mapping[str, str], values: Sequence[float]) -> list[Any] | None:
    """The series' explicit-bucket aggregation in every reader ([] while one has none); None: `record` each value.

    None unless `record` would do nothing but aggregate each value: an enabled SDK histogram, exemplars off,
    cumulative readers, finite non-negative int or float values (a view that keeps only some attributes: no match).
    """
    try:
        if _SDK is None or type(histogram) is not _SDK[0] or not histogram._is_enabled():
            return None
        if not all(type(v) in (int, float) and 0 <= v < math.inf for v in values):
            return None  # `record` warns about and drops such a value
        consumer = histogram._measurement_consumer
        if type(consumer._sdk_config.exemplar_filter) is not AlwaysOffExemplarFilter:
            return None
        key = _SDK[2](dict(attributes))
        out = []
        for storage in consumer._reader_storages.values():
            for match in storage._get_or_init_view_instrument_match(histogram):
                if match._reset_on_collect:  # delta: the SDK holds the match's lock too, against a collect
                    return None
                aggregation = match._attributes_aggregation.get(key)
                if aggregation is None:
                    return []
                if type(aggregation) is not _SDK[1]:
                    return None
                out.append(aggregation)
        return out
    except Exception:  # noqa: BLE001 - telemetry never raises: an SDK unlike this one gets `record` per value
        return None


def _add(aggregation: Any, values: Sequence[float]) -> None:
    """`aggregation.aggregate` of each value in order, under its lock once (exemplars off: none offered)."""
    with aggregation._lock:
        counts = list(aggregation._value or aggregation._get_empty_bucket_counts())
        bounds, total = aggregation._boundaries, aggregation._sum
        for value in values:
            total += value
            counts[bisect_left(bounds, value)] += 1
        if values and aggregation._record_min_max:
            aggregation._min, aggregation._max = min(aggregation._min, *values), max(aggregation._max, *values)
        aggregation._value, aggregation._sum = counts, total
