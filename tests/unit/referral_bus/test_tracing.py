"""Tracing set-up: no-op without OTEL_* variables, SDK with them; our attributes; stages on the process span."""

from __future__ import annotations

import json
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from referral_bus import tracing
from referral_bus.lean_spans import LeanTracer
from referral_bus.tracing import _attributes, stage
from tests.support.interpreter import run_python

PROBE = """
import json
from opentelemetry import trace
from referral_bus import tracing
tracing.configure("probe")
with tracing.stage_span("probe stage", case_id="case-1") as span:
    recording = span.is_recording()
import aiokafka
from referral_bus import http_spans
wrapped = [hasattr(aiokafka.AIOKafkaProducer.send, "__wrapped__"), http_spans._tracer is not None]
print(json.dumps({"provider": type(trace.get_tracer_provider()).__name__, "recording": recording, "wrapped": wrapped}))
"""


def test_without_otel_variables_the_api_stays_a_no_op() -> None:
    out = json.loads(run_python(PROBE).stdout)
    assert out == {"provider": "ProxyTracerProvider", "recording": False, "wrapped": [False, False]}


def test_disabled_sdk_wins_over_an_endpoint() -> None:
    out = json.loads(
        run_python(PROBE, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true").stdout
    )
    assert out["provider"] == "ProxyTracerProvider"


def test_with_an_endpoint_the_sdk_and_instrumentations_are_installed() -> None:
    out = json.loads(run_python(PROBE, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9").stdout)
    assert out["provider"] == "TracerProvider" and out["recording"] is True
    assert out["wrapped"] == [True, True]


def test_console_exporter_installs_the_sdk_and_records_our_attributes() -> None:
    code = """
from referral_bus import tracing
tracing.configure("probe")
with tracing.stage_span("probe stage", case_id="case-1", rule_ids=["r1", "r2"], **{"messaging.system": "kafka"}):
    tracing.annotate(report_id="R-1", recipient_id=None)
    tracing.mark_outcome("accepted")
try:
    with tracing.stage_span("failing stage"):
        raise ValueError("secret text that must not be exported")
except ValueError:
    pass
tracing.shutdown()
"""
    out = run_python(code, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="probe-service").stdout
    assert "probe-service" in out
    assert '"referral_bus.case_id": "case-1"' in out
    assert '"referral_bus.report_id": "R-1"' in out
    assert '"referral_bus.outcome": "accepted"' in out
    assert '"messaging.system": "kafka"' in out
    assert '"error.type": "ValueError"' in out
    assert "recipient_id" not in out
    assert "secret text" not in out  # exception messages are never exported


def _process_span() -> tuple[Any, InMemorySpanExporter]:
    """A recording span standing for Faust's process span, from a provider of the test's own."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return LeanTracer(provider, "faust").start_span("ns.referrals.cases.v1 process"), exporter


def test_a_stage_is_recorded_on_the_process_span_not_as_a_child() -> None:
    process, exporter = _process_span()
    with trace.use_span(process, end_on_exit=True), stage("routing decide", case_id="case-1") as span:
        assert span is process
        span.set_attribute("referral_bus.rule_ids", ["r1", "r2"])
        tracing.annotate(report_id="R-1")
    (only,) = exporter.get_finished_spans()
    assert only.name == "ns.referrals.cases.v1 process"
    assert dict(only.attributes or {}) == {
        "referral_bus.stage": "routing decide",
        "referral_bus.case_id": "case-1",
        "referral_bus.rule_ids": ("r1", "r2"),
        "referral_bus.report_id": "R-1",
    }
    assert only.status.status_code is StatusCode.UNSET


def test_a_failing_stage_puts_the_process_span_in_error_with_the_type_only() -> None:
    process, exporter = _process_span()
    current = trace.use_span(process, end_on_exit=True, record_exception=False, set_status_on_exception=False)
    with pytest.raises(ValueError), current, stage("intake validate"):  # Faust's sensor: the span just current
        raise ValueError("victim@example.org")
    (only,) = exporter.get_finished_spans()
    assert only.attributes is not None and only.attributes["error.type"] == "ValueError"
    assert only.status.status_code is StatusCode.ERROR and only.status.description == "ValueError"
    assert "victim" not in only.to_json()


def test_a_stage_without_a_process_span_is_a_span_of_its_own() -> None:
    code = """
from referral_bus import tracing
tracing.configure("probe")
with tracing.stage("sla escalate", case_id="case-1"):
    pass
tracing.shutdown()
"""
    out = run_python(code, OTEL_TRACES_EXPORTER="console").stdout
    assert '"name": "sla escalate"' in out and '"referral_bus.case_id": "case-1"' in out


class _Refusing(trace.NonRecordingSpan):
    """A recording span whose every attribute and status call fails."""

    def is_recording(self) -> bool:
        return True

    def set_attributes(self, attributes: Any) -> None:
        raise RuntimeError("no attributes")

    def set_attribute(self, key: str, value: Any) -> None:
        raise RuntimeError("no attribute")

    def set_status(self, status: Any, description: str | None = None) -> None:
        raise RuntimeError("no status")


def test_a_stage_never_raises_for_its_span_and_keeps_the_works_own_exception() -> None:
    refusing = _Refusing(trace.INVALID_SPAN_CONTEXT)
    with trace.use_span(refusing), stage("routing decide", case_id="case-1") as span:
        assert span is refusing
    current = trace.use_span(refusing, record_exception=False, set_status_on_exception=False)  # as Faust's sensor
    with pytest.raises(ValueError, match="the work's"), current, stage("intake validate"):
        raise ValueError("the work's")


def test_the_shells_span_ids_set_the_span_only_not_the_log_context() -> None:
    process, exporter = _process_span()
    with trace.use_span(process, end_on_exit=True):
        tracing.span_ids(case_id="case-9", rule_ids=["r1"], report_id=None)
        assert "case_id" not in structlog.contextvars.get_contextvars()
    (only,) = exporter.get_finished_spans()
    assert dict(only.attributes or {}) == {"referral_bus.case_id": "case-9", "referral_bus.rule_ids": ("r1",)}


def test_with_tracing_off_a_stage_opens_nothing() -> None:
    with stage("routing decide", case_id="case-1") as span:
        assert span is trace.INVALID_SPAN


def test_attribute_names_get_our_prefix_unless_dotted() -> None:
    assert _attributes({"case_id": "c", "messaging.system": "kafka", "rule_ids": ("a",), "x": None}) == {
        "referral_bus.case_id": "c",
        "messaging.system": "kafka",
        "referral_bus.rule_ids": ["a"],
    }


# ---- OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL -------------------------------------------------


def test_protocol_defaults_to_http_protobuf_and_the_traces_variable_wins() -> None:
    from referral_bus.tracing import otlp_protocol

    assert otlp_protocol({}) == "http/protobuf"
    assert otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) == "grpc"
    assert otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": " GRPC "}) == "grpc"
    both = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}
    assert otlp_protocol(both) == "http/protobuf"


def test_an_unsupported_protocol_is_refused_with_the_choices() -> None:
    from referral_bus.errors import ConfigurationError
    from referral_bus.tracing import otlp_protocol

    with pytest.raises(ConfigurationError, match=r"'http/json' is not supported; use one of grpc, http/protobuf"):
        otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


@pytest.mark.parametrize(
    ("protocol", "module"),
    [
        ("grpc", "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"),
        ("http/protobuf", "opentelemetry.exporter.otlp.proto.http.trace_exporter"),
    ],
)
def test_the_protocol_picks_the_exporter(protocol: str, module: str) -> None:
    code = """
from opentelemetry import trace
from referral_bus import tracing
tracing.configure("probe")
processor = trace.get_tracer_provider()._active_span_processor._span_processors[0]
exporter = getattr(processor, "span_exporter", None) or processor._batch_processor._exporter
print(type(exporter).__module__)
"""
    out = run_python(
        code, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_EXPORTER_OTLP_PROTOCOL=protocol
    ).stdout
    assert out.strip() == module


# ---- the webhook call and the exporter's queue (record headers: test_trace_headers.py) --------------


def test_a_webhook_call_gets_a_client_span_and_its_traceparent() -> None:
    code = """
import json
from referral_bus import tracing
tracing.configure("probe")
from referral_bus.http_spans import client_span
ok, failed = {"Content-Type": "application/json"}, {}
with tracing.stage_span("notifier deliver") as parent:
    with client_span("POST", "https://user:pw@hooks.example.org:8443/in?token=s3cret", ok) as call:
        call.answered(503)
    try:
        with client_span("POST", "http://hooks.example.org/in", failed):
            raise TimeoutError("after 10 s")
    except TimeoutError:
        pass
tracing.shutdown()
trace_id = format(parent.get_span_context().trace_id, "032x")
print("RESULT " + json.dumps({"ok": ok, "failed": failed, "trace_id": trace_id}))
"""
    out = run_python(code, OTEL_TRACES_EXPORTER="console").stdout
    result = json.loads(out.rsplit("RESULT ", 1)[1])
    assert (
        result["ok"]["traceparent"].split("-")[1] == result["trace_id"] == result["failed"]["traceparent"].split("-")[1]
    )
    assert result["ok"]["traceparent"].split("-")[2] in out  # the header names the client span itself
    assert '"kind": "SpanKind.CLIENT"' in out and '"http.request.method": "POST"' in out
    assert '"url.full": "https://hooks.example.org:8443/in"' in out and '"server.port": 8443' in out
    assert '"http.response.status_code": 503' in out and '"error.type": "503"' in out
    assert '"error.type": "TimeoutError"' in out and '"server.port": 80' in out
    assert "s3cret" not in out and "user:pw" not in out and "after 10 s" not in out


def test_without_tracing_a_webhook_call_is_left_alone() -> None:
    from referral_bus.http_spans import client_span

    headers: dict[str, str] = {}
    with client_span("POST", "http://hooks.example.org/in", headers) as call:
        call.answered(200)
    assert headers == {}


def test_our_batch_defaults_apply_only_where_the_standard_variable_is_not_set() -> None:
    from referral_bus.tracing import batch_settings

    assert batch_settings({}) == {"max_queue_size": 65536, "max_export_batch_size": 2048}
    assert batch_settings({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "100"}) == {"max_queue_size": 65536}
    assert batch_settings({"OTEL_BSP_MAX_QUEUE_SIZE": "1000"}) == {"max_export_batch_size": 1000}
    assert batch_settings({"OTEL_BSP_MAX_QUEUE_SIZE": "1000", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10"}) == {}


_IDS = st.dictionaries(
    st.sampled_from(["case_id", "report_id", "stage", "referral_bus.case_id", "messaging.kafka.message.offset"]),
    st.one_of(st.none(), st.text(max_size=3), st.integers(0, 9), st.lists(st.text(max_size=2), max_size=2)),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(_IDS, _IDS)
def test_a_stages_attributes_are_in_the_order_an_sdk_span_keeps(first: dict[str, Any], ids: dict[str, Any]) -> None:
    def named(given: dict[str, Any]) -> dict[str, Any]:  # our prefix unless dotted; None left out
        return {k if "." in k else "referral_bus." + k: v for k, v in given.items() if v is not None}

    process, exporter = _process_span()
    with trace.use_span(process, end_on_exit=True):
        tracing.span_ids(**first)
        with stage("routing decide", **ids):
            pass
    sdk = TracerProvider().get_tracer("sdk").start_span("sdk")
    sdk.set_attributes(named(first))
    sdk.set_attributes({"referral_bus.stage": "routing decide", **named(ids)})
    (only,) = exporter.get_finished_spans()
    assert list((only.attributes or {}).items()) == list((sdk.attributes or {}).items())  # type: ignore[attr-defined]  # an SDK span
