"""Tracing set-up: no-op without OTEL_* variables, SDK with them; our attributes; the trace tree."""

from __future__ import annotations

import json

import pytest

from referral_bus.tracing import _attributes
from tests.support.interpreter import run_python

PROBE = """
import json
from opentelemetry import trace
from referral_bus import tracing
tracing.configure("probe")
with tracing.stage_span("probe stage", case_id="case-1") as span:
    recording = span.is_recording()
import aiokafka, aiohttp
calls = (aiokafka.AIOKafkaProducer.send, aiohttp.ClientSession.__init__)
wrapped = [hasattr(f, "__wrapped__") for f in calls]
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


# ---- send spans and the exporter's queue ---------------------------------------------------

SENDS = """
import asyncio, json
import aiokafka
async def fake_send(self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None):
    return headers
aiokafka.AIOKafkaProducer.send = fake_send
from opentelemetry import trace
from referral_bus import tracing
tracing.configure("probe")
async def main():
    stale = [("x", b"1"), ("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    with tracing.stage_span("probe stage") as stage:
        headers = await aiokafka.AIOKafkaProducer.send(None, "ns.topic", b"v", key=b"agency-key-77", headers=stale)
        as_mapping = await aiokafka.AIOKafkaProducer.send(None, "ns.topic", b"v", headers={"x": b"1"})
    assert sorted(k for k, _ in as_mapping) == ["traceparent", "x"], as_mapping
    return headers, format(stage.get_span_context().trace_id, "032x")
headers, trace_id = asyncio.run(main())
tracing.shutdown()
print("RESULT " + json.dumps({"headers": [[k, v.decode()] for k, v in headers], "trace_id": trace_id}))
"""


def test_a_send_gets_a_producer_span_and_exactly_one_traceparent_of_it() -> None:
    out = run_python(SENDS, OTEL_TRACES_EXPORTER="console").stdout
    result = json.loads(out.rsplit("RESULT ", 1)[1])
    names = [k for k, _ in result["headers"]]
    assert names.count("traceparent") == 1 and "x" in names
    traceparent = dict(result["headers"])["traceparent"]
    assert traceparent.split("-")[1] == result["trace_id"]  # the stage span's trace, not the stale header's
    assert '"name": "ns.topic send"' in out and '"kind": "SpanKind.PRODUCER"' in out
    assert '"messaging.operation.type": "publish"' in out and '"messaging.destination.name": "ns.topic"' in out
    assert traceparent.split("-")[2] in out  # the header names the send span itself
    assert "agency-key-77" not in out and "messaging.kafka.message.key" not in out


def test_our_batch_defaults_apply_only_where_the_standard_variable_is_not_set() -> None:
    from referral_bus.tracing import batch_settings

    assert batch_settings({}) == {"max_queue_size": 65536, "max_export_batch_size": 2048}
    assert batch_settings({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "100"}) == {"max_queue_size": 65536}
    assert batch_settings({"OTEL_BSP_MAX_QUEUE_SIZE": "1000"}) == {"max_export_batch_size": 1000}
    assert batch_settings({"OTEL_BSP_MAX_QUEUE_SIZE": "1000", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10"}) == {}
