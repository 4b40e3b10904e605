"""OpenTelemetry metrics exposed for Prometheus on each worker's `/metrics`.

Instruments (Prometheus names as exposed; labels are low-cardinality vocabulary, never a case or a
person):

- `referral_bus_events_in_total{stage}`: events a stage took from its input topic
- `referral_bus_events_out_total{stage,topic}`: records a stage produced (broker-acknowledged)
- `referral_bus_dead_letters_total{stage,reason}`: events dead-lettered
- `referral_bus_events_total{stage,outcome}`: stage outcomes (accepted, duplicate, routed, ...)
- `referral_bus_stage_latency_milliseconds{stage,outcome}`: processing time of one event
- `referral_bus_delivery_latency_milliseconds{channel}`: report received → delivered to recipient
- `referral_bus_delivery_attempts_total{channel,outcome}`: delivery attempts per channel
- `referral_bus_sla_breaches_total{recipient_id,priority}`: acknowledgements missing at SLA
- `referral_bus_consumer_lag{group,topic,partition}`: high watermark minus the next offset to read
- gauges a service declares with `register_gauges` (the notifier's pending referrals and circuit
  breakers: services/notifier/gauges.py)
- `referral_bus_table_entries{table}`: entries of each changelogged table held by this worker
- `referral_bus_table_expired_total{table}`: entries removed by expiry (tombstones written; expiry.py)

Recipient ids are bus configuration (the recipients directory), never personal data.

Counters called per event (`count`, `event_in`, `event_out`, `delivery`) add to an in-memory tally (a
dict increment, ~0.1 µs) that `flush()` hands to the OpenTelemetry counters (~10 µs a call) once per
interval (worker.Service's summary timer) and before every scrape (`exposition`), so /metrics is never
behind. The latency histograms' values (`stage_latency`, `delivery`) are kept the same way, in order per
series, and handed over in one pass per series (`histogram_batch.record_all`: the same counts, sums and
buckets as a `record` per value, ≈ 5–10 µs each). Rare counters (dead letters, SLA breaches, ...) are
recorded when they happen. No exemplars are sampled (the Prometheus exposition carries none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from referral_bus import histogram_batch, topics

LagSource = Callable[[], Iterable[tuple[str, int, int]]]
Gauge = tuple[str, str, str, str]  # (name, the row attribute it reports, unit, description)
TableSource = Callable[[], Iterable[tuple[str, int]]]

_provider_set = False
# (counter name, label pairs) → count not yet added to the counter (see `flush`)
Tally = dict[tuple[str, tuple[tuple[str, str], ...]], int]
_tally: Tally = {}
# (histogram name, label pairs) → values not yet handed to the histogram, in the order observed (see `flush`)
_observed: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
SERIES_MAX_VALUES = 4096  # a series' values handed over at once at the latest: memory stays bounded between flushes
_lag_sources: list[tuple[LagSource, str]] = []
_table_sources: list[TableSource] = []


def configure(service: str) -> None:
    """Install a MeterProvider whose reader feeds the Prometheus client registry."""
    global _provider_set
    if _provider_set:
        return
    _provider_set = True
    reader = PrometheusMetricReader()
    resource = Resource.create({SERVICE_NAME: service})
    # no exemplars: the Prometheus exposition carries none, and sampled they cost every record a context look-up
    provider = MeterProvider(resource=resource, metric_readers=[reader], exemplar_filter=AlwaysOffExemplarFilter())
    metrics.set_meter_provider(provider)


@cache
def _meter() -> metrics.Meter:
    return metrics.get_meter("referral_bus")


@cache  # once per topic: reading the namespace setting on every send would cost a settings parse
def _topic_label(topic: str) -> str:
    """A topic without the test/run namespace prefix, so series stay comparable across runs."""
    ns = topics.namespace()
    return topic[len(ns) + 1 :] if ns and topic.startswith(ns + ".") else topic


# Every counter (unit "1") and histogram (milliseconds) by name, with its description; each one is created
# on first use. Labels are stages, outcomes, channels and ids: never a case or a person.
_COUNTERS = {
    "referral_bus_events": "events by stage and outcome",
    "referral_bus_events_in": "events consumed per stage",
    "referral_bus_events_out": "records produced per stage and topic",
    "referral_bus_dead_letters": "events dead-lettered per stage and reason",
    "referral_bus_delivery_attempts": "delivery attempts per channel and outcome",
    "referral_bus_sla_breaches": "referrals not acknowledged within their SLA",
    "referral_bus_safeguard_refusals": "referrals refused by the safeguards gate",
    "referral_bus_uncovered": "declines that left a mandatory kind with no active referral (duty desk alerted)",
    "referral_bus_table_expired": "table entries removed by expiry (a tombstone each), per table",
}
_HISTOGRAMS = {
    "referral_bus_stage_latency": "latency per stage",
    "referral_bus_delivery_latency": "received-to-delivered latency per channel",
}


@cache
def _counter(name: str) -> metrics.Counter:
    return _meter().create_counter(name, unit="1", description=_COUNTERS[name])


@cache
def _histogram(name: str) -> metrics.Histogram:
    return _meter().create_histogram(name, unit="ms", description=_HISTOGRAMS[name])


def safeguard_refusal(stage: str, safeguard_id: str, path: str) -> None:
    """One referral the gate refused (path: rules, default, escalation, delivery); ids only, no personal data."""
    _counter("referral_bus_safeguard_refusals").add(1, {"stage": stage, "safeguard": safeguard_id, "path": path})


def _tallied(name: str, labels: tuple[tuple[str, str], ...], n: int = 1) -> None:
    """Count `n` for counter `name` in memory; `flush` adds the sum to the counter."""
    key = (name, labels)
    _tally[key] = _tally.get(key, 0) + n


def _observe(name: str, labels: tuple[tuple[str, str], ...], value: float) -> None:
    """Keep `value` for histogram `name`; `flush` hands each series' values over, in order."""
    key = (name, labels)
    values = _observed.get(key)
    if values is None:
        values = _observed[key] = []
    values.append(value)
    if len(values) >= SERIES_MAX_VALUES:
        del _observed[key]
        histogram_batch.record_all(_histogram(name), dict(labels), values)


def flush() -> Tally:
    """Add every tallied count to its counter and every kept value to its histogram; returns the counts flushed."""
    global _tally, _observed
    flushed, _tally = _tally, {}
    for (name, labels), n in flushed.items():
        _counter(name).add(n, dict(labels))
    observed, _observed = _observed, {}
    for (name, labels), values in observed.items():
        histogram_batch.record_all(_histogram(name), dict(labels), values)
    return flushed


def count(stage: str, outcome: str, n: int = 1) -> None:
    """Count `n` events of one stage with one outcome (e.g. accepted, duplicate, invalid_field)."""
    _tallied("referral_bus_events", (("stage", stage), ("outcome", outcome)), n)


def event_in(stage: str) -> None:
    """One event taken by a stage from its input topic (called by worker.Service.run_guarded)."""
    _tallied("referral_bus_events_in", (("stage", stage),))


def event_out(stage: str, topic: str) -> None:
    """One record produced by a stage and acknowledged by the broker (worker.Service.send)."""
    _tallied("referral_bus_events_out", (("stage", stage), ("topic", _topic_label(topic))))


def dead_lettered(stage: str, reason: str) -> None:
    """One event dead-lettered by a stage, with the dead letter's reason code."""
    _counter("referral_bus_dead_letters").add(1, {"stage": stage, "reason": reason})


def stage_latency(stage: str, outcome: str, millis: float) -> None:
    """Time one event spent in a stage's handler (outcome: ok or dead_lettered); kept until `flush`."""
    _observe("referral_bus_stage_latency", (("stage", stage), ("outcome", outcome)), millis)


def delivery(channel: str, outcome: str, *, latency_ms: float | None = None) -> None:
    """One delivery attempt on `channel` (outcome: delivered, failed, retry...); latency when delivered."""
    _tallied("referral_bus_delivery_attempts", (("channel", channel), ("outcome", outcome)))
    if latency_ms is not None:
        _observe("referral_bus_delivery_latency", (("channel", channel),), latency_ms)


def dead_letter_reasons() -> list[str]:
    """Every reason code a dead letter can carry (the `reason` of each RejectedMessage class)."""
    from referral_bus.errors import RejectedMessage

    found: set[str] = set()
    todo: list[type[RejectedMessage]] = [RejectedMessage]
    while todo:
        cls = todo.pop()
        found.add(cls.reason)
        todo.extend(cls.__subclasses__())
    return sorted(found)


def init_dead_letters(stage: str) -> None:
    """Zero series for every reason of `stage`: the first dead letter is then an increase alert rules see."""
    for reason in dead_letter_reasons():
        _counter("referral_bus_dead_letters").add(0, {"stage": stage, "reason": reason})


def init_sla_breaches(recipient_ids: Iterable[str], priorities: Iterable[str]) -> None:
    """Zero series per recipient and priority, so the first escalation is an increase alert rules see."""
    for recipient_id in recipient_ids:
        for priority in priorities:
            _counter("referral_bus_sla_breaches").add(0, {"recipient_id": recipient_id, "priority": priority})


def init_uncovered(kinds: Iterable[str]) -> None:
    """Zero series per mandatory kind, so the first uncovered case is an increase alert rules see."""
    for kind in kinds:
        _counter("referral_bus_uncovered").add(0, {"kind": kind})


def uncovered(kind: str) -> None:
    """A case left with no active referral of a mandatory recipient kind after a decline (routing re-route)."""
    _counter("referral_bus_uncovered").add(1, {"kind": kind})


def sla_breach(recipient_id: str, priority: str = "unknown") -> None:
    """A referral whose acknowledgement did not arrive within its SLA (the notifier's SLA check calls it)."""
    _counter("referral_bus_sla_breaches").add(1, {"recipient_id": recipient_id, "priority": priority})


def _rows(sources: list[Any]) -> list[Any]:
    """Every row of every source; a source that fails (mid-rebalance, say) gives none, never a failed scrape."""
    out: list[Any] = []
    for source in list(sources):
        try:
            out.extend(source())
        except Exception:  # noqa: BLE001,S112 - a scrape must never fail because a worker is mid-rebalance
            continue
    return out


def _observe_lag(options: CallbackOptions) -> Iterable[Observation]:
    for source, group in list(_lag_sources):
        for topic, partition, lag in _rows([source]):
            labels = {"group": _topic_label(group), "topic": _topic_label(topic), "partition": str(partition)}
            yield Observation(max(lag, 0), labels)


def _observable_gauge(
    name: str, observe: Callable[[CallbackOptions], Iterable[Observation]], description: str, unit: str = "1"
) -> metrics.ObservableGauge:
    return _meter().create_observable_gauge(name, callbacks=[observe], unit=unit, description=description)


@cache
def _lag_gauge() -> metrics.ObservableGauge:
    return _observable_gauge(
        "referral_bus_consumer_lag",
        _observe_lag,
        "records not yet read per consumer group and assigned partition (high watermark - next offset)",
    )


def register_lag_source(source: LagSource, group: str = "") -> None:
    """Report consumer lag of consumer group `group` from `source()`, which yields (topic, partition, lag)."""
    _lag_sources.append((source, group))
    _lag_gauge()


def register_gauges(source: Callable[[], Iterable[Any]], labels: tuple[str, ...], gauges: Iterable[Gauge]) -> None:
    """Observable gauges read from `source()` at scrape time: a series per row, labelled by its `labels` attributes."""

    def observer(attribute: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for row in _rows([source]):
                value = getattr(row, attribute)
                label_values = {label: getattr(row, label) for label in labels}
                yield Observation(int(value) if isinstance(value, bool) else value, label_values)

        return observe

    for name, attribute, unit, description in gauges:
        _observable_gauge(name, observer(attribute), description, unit)


def _observe_tables(options: CallbackOptions) -> Iterable[Observation]:
    for table, entries in _rows(_table_sources):
        yield Observation(entries, {"table": table})


@cache
def _table_gauge() -> metrics.ObservableGauge:
    return _observable_gauge(
        "referral_bus_table_entries", _observe_tables, "entries of each changelogged table held by this worker"
    )


def register_table_source(source: TableSource) -> None:
    """Report table sizes from `source()`, which yields (table name, entries), at scrape time."""
    _table_sources.append(source)
    _table_gauge()


def expired(table: str, n: int) -> None:
    """`n` entries of `table` removed by expiry."""
    _counter("referral_bus_table_expired").add(n, {"table": table})


def exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type (tallied counts flushed first)."""
    flush()
    return generate_latest(), CONTENT_TYPE_LATEST
