"""OpenTelemetry set-up: SDK from the standard OTEL_* variables; aiokafka, aiohttp-client and Faust instrumentation.

One report is one trace: `referral-bus produce` opens the root span, the aiokafka instrumentation
injects `traceparent` into every record it sends, Faust's OpenTelemetry sensor (worker.Service) opens
the `{topic} process` span of each consumed event from those headers, our own stage spans nest
under it, and the aiohttp client instrumentation carries the trace into webhook calls.

Nothing is exported unless the standard variables ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER`); the API then stays a no-op.
`OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` picks the transport (`grpc` or `http/protobuf`, the default).
Attributes we add are identifiers only (`referral_bus.case_id`, `.report_id`, `.rule_ids`,
`.recipient_id`), never a PII value; the record key the instrumentations would add
(`messaging.kafka.message.key`: an agency's bytes, a hash of content) is removed (`drop_key`,
span_keys.ProcessSpanSensor).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from referral_bus.errors import ConfigurationError
from referral_bus.settings import TracingSettings

TRACER_NAME = "referral_bus"
ATTRIBUTE_PREFIX = "referral_bus."
KEY_ATTRIBUTE = "messaging.kafka.message.key"
_configured = False

AttributeValue = str | int | bool | Sequence[str]


def tracing_enabled() -> bool:
    """True when the standard OTEL_* variables ask for trace export."""
    return TracingSettings().enabled


# OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL values we export with, and their standard default ports.
OTLP_PROTOCOLS = {"grpc": 4317, "http/protobuf": 4318}
DEFAULT_OTLP_PROTOCOL = "http/protobuf"  # the specification's default


def otlp_protocol(env: Mapping[str, str] | None = None) -> str:
    """The OTLP transport the standard variables ask for (the traces-specific one wins).

    Raises ConfigurationError for a value we cannot export with (e.g. `http/json`), naming the choices.
    """
    if env is None:
        settings = TracingSettings()
        env = {
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": settings.exporter_otlp_traces_protocol,
            "OTEL_EXPORTER_OTLP_PROTOCOL": settings.exporter_otlp_protocol,
        }
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = env.get(name, "").strip().lower()
        if value:
            if value not in OTLP_PROTOCOLS:
                raise ConfigurationError(
                    f"{name}={value!r} is not supported; use one of {', '.join(sorted(OTLP_PROTOCOLS))}"
                )
            return value
    return DEFAULT_OTLP_PROTOCOL


def _exporter() -> Any:
    """The span exporter the standard variables name: OTLP over gRPC or HTTP, or `console` for debugging.

    The OTLP exporters read the other standard variables themselves: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
    _HEADERS, _TIMEOUT, _COMPRESSION, _CERTIFICATE, _CLIENT_KEY, _CLIENT_CERTIFICATE and (gRPC) _INSECURE.
    """
    if (TracingSettings().traces_exporter or "otlp").split(",")[0].strip() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if otlp_protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def configure(service: str) -> None:
    """Install the SDK, OTLP export and the aiokafka/aiohttp-client instrumentations when configured.

    Otherwise nothing is installed: the API stays a no-op, no client call is wrapped (so a send
    costs what it costs without OpenTelemetry), and Faust's sensor only opens non-recording spans.
    """
    global _configured
    if _configured:
        return
    _configured = True
    if not tracing_enabled():
        return
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: TracingSettings().service_name or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    AIOKafkaInstrumentor().instrument(async_produce_hook=_drop_key_on_send, async_consume_hook=_drop_key_on_receive)
    AioHttpClientInstrumentor().instrument()


def drop_key(span: Any) -> None:
    """Remove the record key attribute from an SDK span that is still open (no API call removes one)."""
    attributes = getattr(span, "_attributes", None)
    if attributes is not None and KEY_ATTRIBUTE in attributes:
        del attributes[KEY_ATTRIBUTE]


async def _drop_key_on_send(span: Any, args: Any, kwargs: Any) -> None:
    """The aiokafka instrumentation's produce hook: runs while the send span is open."""
    drop_key(span)


async def _drop_key_on_receive(span: Any, record: Any, args: Any, kwargs: Any) -> None:
    """The aiokafka instrumentation's consume hook: runs while the receive span is open."""
    drop_key(span)


def shutdown() -> None:
    """Flush spans still buffered (called when the CLI stops; the SDK also flushes at exit)."""
    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def tracer() -> trace.Tracer:
    """Our tracer, for our own stages (decode, validate, route, redact, deliver)."""
    return trace.get_tracer(TRACER_NAME)


def _attributes(ids: dict[str, AttributeValue | None]) -> dict[str, Any]:
    """`case_id=...` → `referral_bus.case_id`; keys already dotted (semconv) are kept as they are."""
    out: dict[str, Any] = {}
    for key, value in ids.items():
        if value is None:
            continue
        name = key if "." in key else ATTRIBUTE_PREFIX + key
        out[name] = list(value) if isinstance(value, (list, tuple)) else value
    return out


@contextmanager
def stage_span(name: str, **attributes: AttributeValue | None) -> Iterator[trace.Span]:
    """A span for one of our own stages; attributes must never carry PII.

    Plain keyword names get the `referral_bus.` prefix (`case_id=` → `referral_bus.case_id`);
    dotted names (`**{"messaging.kafka.message.offset": 3}`) are used as they are. An exception
    leaving the block marks the span as an error with the exception's type only (messages may hold
    data, so no exception event is recorded).
    """
    with tracer().start_as_current_span(
        name, attributes=_attributes(attributes), record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def annotate(**ids: AttributeValue | None) -> None:
    """Put identifiers on the current span and on every log line of this event.

    `annotate(case_id=c, report_id=r)` sets `referral_bus.case_id`/`.report_id` on the current span
    (Faust's process span, or our stage span) and binds `case_id`/`report_id` in structlog's context
    (worker.run_guarded clears them after the event). Identifiers only: never a PII value.
    """
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(_attributes(ids))
    scalars = {k: v for k, v in ids.items() if v is not None and not isinstance(v, (list, tuple))}
    if scalars:
        structlog.contextvars.bind_contextvars(**scalars)


def mark_outcome(outcome: str, *, error: bool = False) -> None:
    """Record a stage outcome (`accepted`, `duplicate`, `invalid_field`...) on the current span."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute(ATTRIBUTE_PREFIX + "outcome", outcome)
    if error:
        span.set_attribute("error.type", outcome)
        span.set_status(Status(StatusCode.ERROR, outcome))
