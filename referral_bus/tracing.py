"""OpenTelemetry set-up: SDK from the standard OTEL_* variables, aiokafka and Faust instrumentation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

TRACER_NAME = "referral_bus"
_configured = False


def tracing_enabled() -> bool:
    """True when the standard OTEL_* variables ask for trace export."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or (exporter and exporter != "none")
    )


def configure(service: str) -> None:
    """Install the SDK with OTLP export when configured; otherwise leave the no-op API in place."""
    global _configured
    if _configured:
        return
    _configured = True
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor

    if tracing_enabled():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service)})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    AIOKafkaInstrumentor().instrument()


def shutdown() -> None:
    """Flush spans still buffered (called when a worker or the CLI stops)."""
    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def tracer() -> trace.Tracer:
    """Our tracer, for our own stages (decode, validate, route, redact, deliver)."""
    return trace.get_tracer(TRACER_NAME)


@contextmanager
def stage_span(name: str, **attributes: str | int | bool) -> Iterator[trace.Span]:
    """A span for one of our own stages; attributes must never carry PII."""
    with tracer().start_as_current_span(name, attributes=attributes) as span:
        yield span
