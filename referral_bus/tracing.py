"""OpenTelemetry set-up: SDK from the standard OTEL_* variables; Kafka-send, HTTP-client and Faust spans.

One report is one trace: `referral-bus produce` opens the root span; every record a process sends
carries, in its `traceparent` header, the context of the span current where it is sent
(`instrument_sends`: no span per record sent, but a dead letter's); the worker shell opens the
`{topic} process` span of each consumed event from those headers around its handler (shell.Service, with
span_keys' sensor: Faust's span without the record key);
our stages are recorded on that span (`stage`: `referral_bus.stage` and their identifiers, no child
span), and the webhook call's client span (http_spans) carries the trace to the recipient. No span is
opened when records are received (the process span continues the trace), nor for a table's changelog
record (no part of a report's trace): docs/observability.md, "Cost".

Nothing is exported unless the standard variables ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER`); the API then stays a no-op.
`OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` picks the transport (`grpc` or `http/protobuf`, the default).
Attributes we add are identifiers only (`referral_bus.case_id`, `.report_id`, `.rule_ids`,
`.recipient_id`, `.stage`), never a PII value; the record key (`messaging.kafka.message.key`: an agency's
bytes, a hash of content) is never set (send spans leave it out; span_keys.ProcessSpanSensor).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from referral_bus import http_spans, span_parent
from referral_bus.errors import ConfigurationError
from referral_bus.settings import TracingSettings
from referral_bus.topic_catalog import CHANGELOG_SUFFIX

TRACER_NAME = "referral_bus"
ATTRIBUTE_PREFIX = "referral_bus."
STAGE_ATTRIBUTE = ATTRIBUTE_PREFIX + "stage"
OUTCOME_ATTRIBUTE = ATTRIBUTE_PREFIX + "outcome"  # one object: its hash kept, found by identity when encoded
KEY_ATTRIBUTE = "messaging.kafka.message.key"
log = logging.getLogger(__name__)
_configured = False
_tracer: trace.Tracer | None = None  # ours once the SDK is installed (lean spans), else the API's

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
    Either OTLP exporter encodes its requests with `span_encoding.encode_request` (`_fast_encoding`).
    """
    if (TracingSettings().traces_exporter or "otlp").split(",")[0].strip() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if otlp_protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_module

        _fast_encoding(grpc_module, parsed=True)
        return _ours(grpc_module.OTLPSpanExporter())
    from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_module

    _fast_encoding(http_module, parsed=False)
    return _ours(http_module.OTLPSpanExporter())


def _ours(exporter: Any) -> Any:
    """`exporter`, marked as encoding with span_encoding (lean spans then reach it written: `EncodedSpan`)."""
    from referral_bus.span_encoding import encodes_with_us

    encodes_with_us(exporter)
    return exporter


class _Encoded:
    """Request bytes where the HTTP exporter expects a protobuf message it serialises."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializePartialToString(self) -> bytes:  # the protobuf method the exporter calls
        return self.data


def _fast_encoding(module: Any, *, parsed: bool) -> None:
    """Our encoder (span_encoding: the same bytes, ≈ 2x cheaper) for the SDK's in an OTLP exporter module.

    Both exporters call their module's `encode_spans(spans)`: the HTTP one serialises the result, the
    gRPC one hands it to its stub, which needs a real message (`parsed`: our bytes parsed in C).
    """
    from referral_bus.span_encoding import encode_request

    if parsed:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        module.encode_spans = lambda spans: ExportTraceServiceRequest.FromString(encode_request(spans))
    else:
        module.encode_spans = lambda spans: _Encoded(encode_request(spans))


# BatchSpanProcessor defaults of ours where the standard OTEL_BSP_* variable is not set (the SDK's own: 2048 spans
# queued, 512 a request, 5 s): a queue that holds a few seconds of a busy worker's spans, so a burst is not dropped
# (a dropped span breaks its report's trace), and fewer, larger export requests.
BSP_DEFAULTS = {"OTEL_BSP_MAX_QUEUE_SIZE": 65536, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 2048}


def batch_settings(env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Keyword arguments for BatchSpanProcessor: ours for each OTEL_BSP_* variable that is not set."""
    if env is None:
        settings = TracingSettings()
        env = {
            "OTEL_BSP_MAX_QUEUE_SIZE": settings.bsp_max_queue_size,
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": settings.bsp_max_export_batch_size,
        }
    names = {"OTEL_BSP_MAX_QUEUE_SIZE": "max_queue_size", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "max_export_batch_size"}
    out = {names[k]: v for k, v in BSP_DEFAULTS.items() if not env.get(k, "").strip()}
    if "max_export_batch_size" in out and env.get("OTEL_BSP_MAX_QUEUE_SIZE", "").strip():
        # the SDK refuses a batch larger than the queue: keep ours below the queue the operator chose
        out["max_export_batch_size"] = min(out["max_export_batch_size"], int(env["OTEL_BSP_MAX_QUEUE_SIZE"]))
    return out


def configure(service: str) -> None:
    """Install the SDK, OTLP export, trace headers on Kafka sends and HTTP client spans (http_spans) when configured.

    Otherwise nothing is installed: the API stays a no-op, no client call is wrapped (so a send
    costs what it costs without OpenTelemetry), and Faust's sensor is not added (shell.Service).
    """
    global _configured, _tracer
    if _configured:
        return
    _configured = True
    if not tracing_enabled():
        return
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: TracingSettings().service_name or service})
    provider = TracerProvider(resource=resource)
    sizes = batch_settings()
    provider.add_span_processor(
        BatchSpanProcessor(
            _exporter(),
            max_queue_size=sizes.get("max_queue_size"),
            max_export_batch_size=sizes.get("max_export_batch_size"),
        )
    )
    trace.set_tracer_provider(provider)
    instrument_sends()
    http_spans.install(lean_tracer("referral_bus.http"))
    _tracer = lean_tracer(TRACER_NAME)


SEND_ATTRIBUTES = {
    "messaging.system": "kafka",
    "messaging.operation.type": "publish",
    "messaging.operation.name": "send",
}
Header = tuple[str, bytes]
# The trace headers of the last context a record was sent in, with that context: a handler's records (and the
# retries of one) share their event's context, so the propagators run once per event, not once per record.
_injected: tuple[Context | None, list[Header], frozenset[str]] = (None, [], frozenset())


def instrument_sends() -> None:
    """Wrap `AIOKafkaProducer.send` (Faust's producer and the CLI's): the current span's context in the headers.

    No span per record sent: the record's `traceparent` names the span current where it is sent (the
    event's process span, our stage span, the CLI's root), so the consumer's process span is that span's
    child and a report's trace holds a span per event processed, not one more per record produced.
    Where no span is current a root `{topic} send` span (PRODUCER) is opened for it, so the record still
    starts a trace; `send_span` opens one on purpose (dead letters). The propagators (OTEL_PROPAGATORS,
    W3C trace context by default) write the headers, once per context (`trace_headers`); any header the
    propagators own (`traceparent`, `tracestate`, `baggage`) is replaced, so there is one injector and one
    `traceparent`.
    A table's changelog record (`*-changelog`) gets no header: no part of a report's trace.
    Ours rather than opentelemetry-instrumentation-aiokafka's, which opens a span per record sent and
    per record received and computes each record's partition a second time.
    """
    import aiokafka

    send = aiokafka.AIOKafkaProducer.send
    if hasattr(send, "__wrapped__"):
        return
    kafka_tracer = lean_tracer("referral_bus.kafka")

    @functools.wraps(send)
    def traced_send(
        self: Any,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Any = None,
    ) -> Any:  # aiokafka's own coroutine, headers given: no coroutine of ours around it per record
        if not topic.endswith(CHANGELOG_SUFFIX):
            try:
                headers = with_trace(headers, *trace_headers(kafka_tracer, topic))
            except Exception as exc:  # noqa: BLE001 - telemetry never raises: the record goes without trace headers
                log.debug("no trace headers: %s", type(exc).__name__)
        return send(self, topic, value, key, partition, timestamp_ms, headers)

    aiokafka.AIOKafkaProducer.send = traced_send


def trace_headers(kafka_tracer: trace.Tracer, topic: str) -> tuple[list[Header], frozenset[str]]:
    """The current context's trace headers, and the names to replace (every header the propagators own).

    Where no span is current, those of a root `{topic} send` span opened for the record.
    """
    global _injected
    current = otel_context.get_current()
    if current is _injected[0]:
        return _injected[1], _injected[2]
    plain = span_parent.traceparent(current)
    if plain is not None:  # what `inject` writes, without its carrier: the one header, the propagators' fields
        _injected = (current, [("traceparent", plain)], span_parent.propagator().fields)
        return _injected[1], _injected[2]
    span = None
    if not trace.get_current_span(current).get_span_context().is_valid:
        attributes = {**SEND_ATTRIBUTES, "messaging.destination.name": topic}
        span = kafka_tracer.start_span(f"{topic} send", kind=SpanKind.PRODUCER, attributes=attributes)
    carrier = span_parent.inject(current if span is None else trace.set_span_in_context(span))
    pairs = [(k, v.encode()) for k, v in carrier.items()]
    names = span_parent.propagator().fields.union(carrier)
    if span is None:
        _injected = (current, pairs, names)
    else:
        span.end()
    return pairs, names


def with_trace(headers: Any, pairs: list[Header], names: frozenset[str]) -> list[Header]:
    """`headers` (pairs or a mapping) without any header named in `names`, then `pairs` (the trace headers)."""
    if not headers:
        return list(pairs)
    given = headers if type(headers) is list else headers.items() if isinstance(headers, Mapping) else headers
    return [(k, v) for k, v in given if k not in names] + pairs


@contextmanager
def send_span(topic: str) -> Iterator[trace.Span]:
    """A `{topic} send` span (PRODUCER), current for the block: records sent in it carry its context.

    For the records worth a span of their own in a report's trace (a dead letter); others carry their
    event's context (`instrument_sends`).
    """
    attributes = {**SEND_ATTRIBUTES, "messaging.destination.name": topic}
    with tracer().start_as_current_span(
        f"{topic} send", kind=SpanKind.PRODUCER, attributes=attributes, record_exception=False
    ) as span:
        yield span


def shutdown() -> None:
    """Flush spans still buffered (called when the CLI stops; the SDK also flushes at exit)."""
    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def lean_tracer(name: str) -> trace.Tracer:
    """A tracer of cheap spans (`lean_spans`) over our SDK provider; the API's tracer where none is installed."""
    provider = trace.get_tracer_provider()
    from opentelemetry.sdk.trace import TracerProvider

    if isinstance(provider, TracerProvider):
        from referral_bus.lean_spans import LeanTracer

        return LeanTracer(provider, name)
    return trace.get_tracer(name)


def tracer() -> trace.Tracer:
    """Our tracer, for the spans of our own (the CLI's root, a stage outside an event): lean once configured."""
    return _tracer or trace.get_tracer(TRACER_NAME)


_NAMES: dict[str, str] = {}  # keyword → attribute name, made once (the same object each time: its hash kept)


def _attributes(ids: dict[str, AttributeValue | None], out: dict[str, Any] | None = None) -> dict[str, Any]:
    """`case_id=...` → `referral_bus.case_id`, into `out` (a new dict if None); dotted (semconv) keys kept as is."""
    out = {} if out is None else out
    for key, value in ids.items():
        if value is None:
            continue
        name = _NAMES.get(key)
        if name is None:
            name = key if "." in key else ATTRIBUTE_PREFIX + key
            if len(_NAMES) < 256:  # keywords are the code's own: a handful
                _NAMES[key] = name
        out[name] = list(value) if isinstance(value, (list, tuple)) else value
    return out


@contextmanager
def stage_span(name: str, **attributes: AttributeValue | None) -> Iterator[trace.Span]:
    """A span of its own (the CLI's `referral-bus produce` root; a worker's stage is `stage`); never PII.

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
            _failed(span, exc)
            raise


def stage(name: str, **attributes: AttributeValue | None) -> AbstractContextManager[trace.Span]:
    """One of our stages, recorded on the current span (the event's process span) rather than a child span.

    The span gets `referral_bus.stage=<name>` and the attributes (named as for `stage_span`), and is
    yielded for more; an exception leaving the block marks it as an error with the exception's type only.
    Where no span is recording (a timer's work; a caller outside a worker) it is `stage_span`, but for an event of a
    report not sampled (a parent-based sampler would drop that span too: nothing is opened).
    Telemetry never raises: a failure to record is ignored.
    """
    span = span_parent.current_span()
    if span.is_recording():
        return _Stage(span, name, attributes)
    if _tracer is None or _unsampled(span):  # tracing off, or a report not sampled: no span would be recorded
        return nullcontext(span)
    return stage_span(name, **attributes)


def _unsampled(span: trace.Span) -> bool:
    """True for a span of a report not sampled, where our sampler is parent-based (a child of it is dropped too)."""
    context = span.get_span_context()
    return context.is_valid and not context.trace_flags.sampled and getattr(_tracer, "own_decision", False)


class _Stage:
    """`stage` on a recording span: its attributes set on entry, an exception's type on exit (no generator)."""

    __slots__ = ("span",)

    def __init__(self, span: trace.Span, name: str, attributes: dict[str, AttributeValue | None]) -> None:
        self.span = span
        # Telemetry never breaks the work it observes: a span that fails to take an attribute or a status loses
        # only that attribute; the event's own outcome (and any exception of its work, re-raised) is kept.
        try:
            span.set_attributes(_attributes(attributes, {STAGE_ATTRIBUTE: name}))  # `{stage, **ids}`, one dict
        except Exception as exc:  # noqa: BLE001 - nothing is lost: only this span attribute failed
            log.debug("stage attributes not set: %s", type(exc).__name__)

    def __enter__(self) -> trace.Span:
        return self.span

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None:
            try:
                _failed(self.span, exc)
            except Exception as failed:  # noqa: BLE001 - nothing is lost: only the span's error mark; `exc` propagates
                log.debug("stage error not marked: %s", type(failed).__name__)


def _failed(span: trace.Span, exc: BaseException) -> None:
    """The span in error, with the exception's type (never its message: messages may quote data)."""
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def span_ids(**ids: AttributeValue | None) -> None:
    """`annotate`'s identifiers on the current span only, where it records (the log context has them already)."""
    span = span_parent.current_span()
    if span.is_recording():
        span.set_attributes(_attributes(ids))


def annotate(**ids: AttributeValue | None) -> None:
    """Put identifiers on the current span and on every log line of this event.

    `annotate(case_id=c, report_id=r)` sets `referral_bus.case_id`/`.report_id` on the current span
    (Faust's process span, or our stage span) and binds `case_id`/`report_id` in structlog's context
    (worker.run_guarded clears them after the event). Identifiers only: never a PII value.
    """
    span_ids(**ids)
    scalars = {k: v for k, v in ids.items() if v is not None and not isinstance(v, (list, tuple))}
    if scalars:
        structlog.contextvars.bind_contextvars(**scalars)


def mark_outcome(outcome: str, *, error: bool = False) -> None:
    """Record a stage outcome (`accepted`, `duplicate`, `invalid_field`...) on the current span."""
    span = span_parent.current_span()
    if not span.is_recording():
        return
    span.set_attribute(OUTCOME_ATTRIBUTE, outcome)
    if error:
        span.set_attribute("error.type", outcome)
        span.set_status(Status(StatusCode.ERROR, outcome))
