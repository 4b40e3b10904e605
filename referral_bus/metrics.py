"""OpenTelemetry metrics exposed for Prometheus on each worker's `/metrics`."""

from __future__ import annotations

from functools import cache

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

_provider_set = False


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


@cache
def events_counter() -> metrics.Counter:
    """Events per stage and outcome (labels: stage, outcome; never a case or person)."""
    return _meter().create_counter("referral_bus_events", unit="1", description="events by stage and outcome")


@cache
def latency_histogram() -> metrics.Histogram:
    """Processing latency per stage in milliseconds."""
    return _meter().create_histogram("referral_bus_stage_latency", unit="ms", description="latency per stage")


@cache
def delivery_histogram() -> metrics.Histogram:
    """Delivery latency per channel, from the report's produce to the recipient, in milliseconds."""
    return _meter().create_histogram(
        "referral_bus_delivery_latency", unit="ms", description="produce-to-delivery latency per channel"
    )


def count(stage: str, outcome: str, n: int = 1) -> None:
    """Count `n` events of one stage with one outcome (e.g. accepted, duplicate, invalid_field)."""
    events_counter().add(n, {"stage": stage, "outcome": outcome})


def exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
