"""Spans reach a real Jaeger v2 through each OTLP transport that OTEL_EXPORTER_OTLP_PROTOCOL can name.

Each case runs `tracing.configure` in a fresh interpreter (the SDK is process-global) with only the
standard variables a deployment sets, and finds its span in Jaeger by a unique tag. The gRPC and
HTTP receivers listen on different ports, so an exporter that ignored the protocol would not arrive.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from referral_bus.settings import REPO_ROOT
from referral_devstack.jaeger import Jaeger, JaegerClient
from referral_devstack.processes import untraced_environment

pytestmark = [pytest.mark.timeout(2400)]

EMIT = """
import sys
from referral_bus import tracing
tracing.configure("unused")
with tracing.stage_span("otlp probe", report_id=sys.argv[1]):
    pass
tracing.shutdown()
"""


def emit(env: dict[str, str], marker: str) -> subprocess.CompletedProcess[str]:
    """One span tagged `referral_bus.report_id=marker`, exported with exactly these OTEL_* variables."""
    return subprocess.run(
        [sys.executable, "-c", EMIT, marker],
        cwd=REPO_ROOT,
        env={**untraced_environment(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def find(client: JaegerClient, service: str, marker: str, timeout: float = 60.0) -> list[object]:
    """Poll Jaeger's tag search until the span shows up or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        traces = client.find(service, {"referral_bus.report_id": marker})
        if traces or time.monotonic() > deadline:
            return traces
        time.sleep(0.5)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_reach_jaeger_through_each_protocol(jaeger: Jaeger, protocol: str) -> None:
    service = f"otlp-probe-{protocol.replace('/', '-')}"
    marker = f"probe-{uuid.uuid4()}"
    done = emit({**jaeger.otlp_env(protocol), "OTEL_SERVICE_NAME": service}, marker)
    assert done.returncode == 0, done.stderr
    traces = find(JaegerClient(jaeger.query_url), service, marker)
    assert len(traces) == 1, f"no span from {service} in Jaeger; exporter said:\n{done.stderr[-2000:]}"


def test_traces_endpoint_and_headers_variables_are_honoured(jaeger: Jaeger) -> None:
    """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (full URL for HTTP) and _HEADERS, as a collector behind auth needs."""
    service = "otlp-probe-traces-endpoint"
    marker = f"probe-{uuid.uuid4()}"
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{jaeger.otlp_endpoint}/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",  # the traces-specific variable wins
        "OTEL_EXPORTER_OTLP_HEADERS": "x-scope-orgid=referral-bus",
        "OTEL_SERVICE_NAME": service,
    }
    done = emit(env, marker)
    assert done.returncode == 0, done.stderr
    assert len(find(JaegerClient(jaeger.query_url), service, marker)) == 1, done.stderr[-2000:]
