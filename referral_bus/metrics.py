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
- `referral_bus_consumer_lag{topic,partition}`: high watermark minus the next offset to read
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from referral_bus import topics

LagSource = Callable[[], Iterable[tuple[str, int, int]]]

_provider_set = False
_lag_sources: list[LagSource] = []


def configure(service: str) -> None:
    """Install a MeterProvider whose reader feeds the Prometheus client registry."""
    global _provider_set
    if _provider_set:
        return
    _provider_set = True
    reader = PrometheusMetricReader()
    metrics.set_meter_provider(
        MeterProvider(resource=Resource.create({SERVICE_NAME: service}), metric_readers=[reader])
    )


@cache
def _meter() -> metrics.Meter:
    return metrics.get_meter("referral_bus")


@cache  # once per topic: reading the namespace setting on every send would cost a settings parse
def _topic_label(topic: str) -> str:
    """A topic without the test/run namespace prefix, so series stay comparable across runs."""
    ns = topics.namespace()
    return topic[len(ns) + 1 :] if ns and topic.startswith(ns + ".") else topic


@cache
def events_counter() -> metrics.Counter:
    """Events per stage and outcome (labels: stage, outcome; never a case or person)."""
    return _meter().create_counter("referral_bus_events", unit="1", description="events by stage and outcome")


@cache
def _events_in() -> metrics.Counter:
    return _meter().create_counter("referral_bus_events_in", unit="1", description="events consumed per stage")


@cache
def _events_out() -> metrics.Counter:
    return _meter().create_counter(
        "referral_bus_events_out", unit="1", description="records produced per stage and topic"
    )


@cache
def _dead_letters() -> metrics.Counter:
    return _meter().create_counter(
        "referral_bus_dead_letters", unit="1", description="events dead-lettered per stage and reason"
    )


@cache
def latency_histogram() -> metrics.Histogram:
    """Processing latency per stage in milliseconds."""
    return _meter().create_histogram("referral_bus_stage_latency", unit="ms", description="latency per stage")


@cache
def delivery_histogram() -> metrics.Histogram:
    """Delivery latency per channel, from the report's receipt to the recipient, in milliseconds."""
    return _meter().create_histogram(
        "referral_bus_delivery_latency", unit="ms", description="received-to-delivered latency per channel"
    )


@cache
def _delivery_attempts() -> metrics.Counter:
    return _meter().create_counter(
        "referral_bus_delivery_attempts", unit="1", description="delivery attempts per channel and outcome"
    )


@cache
def _sla_breaches() -> metrics.Counter:
    return _meter().create_counter(
        "referral_bus_sla_breaches", unit="1", description="referrals not acknowledged within their SLA"
    )


@cache
def _safeguard_refusals() -> metrics.Counter:
    return _meter().create_counter(
        "referral_bus_safeguard_refusals", unit="1", description="referrals refused by the safeguards gate"
    )


def safeguard_refusal(stage: str, safeguard_id: str, path: str) -> None:
    """One referral the gate refused (path: rules, default, escalation, delivery); ids only, no personal data."""
    _safeguard_refusals().add(1, {"stage": stage, "safeguard": safeguard_id, "path": path})


def count(stage: str, outcome: str, n: int = 1) -> None:
    """Count `n` events of one stage with one outcome (e.g. accepted, duplicate, invalid_field)."""
    events_counter().add(n, {"stage": stage, "outcome": outcome})


def event_in(stage: str) -> None:
    """One event taken by a stage from its input topic (called by worker.Service.run_guarded)."""
    _events_in().add(1, {"stage": stage})


def event_out(stage: str, topic: str) -> None:
    """One record produced by a stage and acknowledged by the broker (worker.Service.send)."""
    _events_out().add(1, {"stage": stage, "topic": _topic_label(topic)})


def dead_lettered(stage: str, reason: str) -> None:
    """One event dead-lettered by a stage, with the dead letter's reason code."""
    _dead_letters().add(1, {"stage": stage, "reason": reason})


def stage_latency(stage: str, outcome: str, millis: float) -> None:
    """Time one event spent in a stage's handler (outcome: ok or dead_lettered)."""
    latency_histogram().record(millis, {"stage": stage, "outcome": outcome})


def delivery(channel: str, outcome: str, *, latency_ms: float | None = None) -> None:
    """One delivery attempt on `channel` (outcome: delivered, failed, retry...); latency when delivered."""
    _delivery_attempts().add(1, {"channel": channel, "outcome": outcome})
    if latency_ms is not None:
        delivery_histogram().record(latency_ms, {"channel": channel})


def sla_breach(recipient_id: str, priority: str = "unknown") -> None:
    """A referral whose acknowledgement did not arrive within its SLA (the notifier's SLA check calls it)."""
    _sla_breaches().add(1, {"recipient_id": recipient_id, "priority": priority})


def _observe_lag(options: CallbackOptions) -> Iterable[Observation]:
    for source in list(_lag_sources):
        try:
            rows = list(source())
        except Exception:  # noqa: BLE001 - a scrape must never fail because the consumer is mid-rebalance
            rows = []
        for topic, partition, lag in rows:
            yield Observation(max(lag, 0), {"topic": _topic_label(topic), "partition": str(partition)})


@cache
def _lag_gauge() -> metrics.ObservableGauge:
    return _meter().create_observable_gauge(
        "referral_bus_consumer_lag",
        callbacks=[_observe_lag],
        unit="1",
        description="records not yet read per assigned partition (high watermark - next offset)",
    )


def register_lag_source(source: LagSource) -> None:
    """Report consumer lag from `source()`, which yields (topic, partition, lag) at scrape time."""
    _lag_sources.append(source)
    _lag_gauge()


def exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
