"""Tracing set-up: no-op without OTEL_* variables, SDK with them; our attributes; the trace tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from referral_bus.commands.trace import outcome, render
from referral_bus.settings import REPO_ROOT
from referral_bus.tracing import _attributes


def run_python(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter (tracing set-up is process-global) with only `env` as OTEL_*."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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
    out = json.loads(run_python(PROBE))
    assert out == {"provider": "ProxyTracerProvider", "recording": False, "wrapped": [False, False]}


def test_disabled_sdk_wins_over_an_endpoint() -> None:
    out = json.loads(run_python(PROBE, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true"))
    assert out["provider"] == "ProxyTracerProvider"


def test_with_an_endpoint_the_sdk_and_instrumentations_are_installed() -> None:
    out = json.loads(run_python(PROBE, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9"))
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
    out = run_python(code, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="probe-service")
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


def _span(sid: str, parent: str | None, pid: str, name: str, start: int, tags: list[dict[str, object]]) -> dict:
    refs = [{"refType": "CHILD_OF", "traceID": "t1", "spanID": parent}] if parent else []
    return {
        "traceID": "t1",
        "spanID": sid,
        "operationName": name,
        "references": refs,
        "startTime": start,
        "duration": 2000,
        "processID": pid,
        "tags": tags,
    }


def test_render_prints_an_indented_tree_with_service_duration_and_outcome() -> None:
    trace = {
        "traceID": "t1",
        "processes": {"p1": {"serviceName": "referral-bus-cli"}, "p2": {"serviceName": "referral-bus-intake"}},
        "spans": [
            _span("c", "b", "p2", "intake validate", 3000, [{"key": "referral_bus.case_id", "value": "case-9"}]),
            _span("a", None, "p1", "referral-bus produce", 1000, [{"key": "referral_bus.report_id", "value": "R-9"}]),
            _span("b", "a", "p2", "x process", 2000, []),
            _span(
                "d",
                "b",
                "p2",
                "failing",
                4000,
                [{"key": "otel.status_code", "value": "ERROR"}, {"key": "error.type", "value": "invalid_field"}],
            ),
        ],
    }
    lines = render(trace)
    assert lines[0].startswith("trace t1 (report_id R-9, case_id case-9): 4 spans, 2 services")
    body = lines[1:]
    names = ["referral-bus produce", "x process", "intake validate", "failing"]
    columns = [line.index(name) for line, name in zip(body, names, strict=True)]
    indents = [c - columns[0] for c in columns]
    assert indents == [0, 2, 4, 4]
    assert "+0.0ms" in body[0] and "2.0ms" in body[0]
    assert body[3].endswith("[ERROR (invalid_field)]")
    assert outcome({"tags": [{"key": "http.response.status_code", "value": 200}]}) == "HTTP 200"


def test_trace_command_says_what_to_do_when_jaeger_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    from referral_bus.cli import main
    from referral_bus.jaeger import free_ports

    (port,) = free_ports(1)
    assert main(["trace", "HL111-2026-0001", "--jaeger", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach Jaeger" in err and "referral_bus.jaeger start" in err
