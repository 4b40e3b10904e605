"""The manifests' OpenTelemetry variables and the code agree: protocol, port, standard names, every worker.

A pod whose OTEL_EXPORTER_OTLP_PROTOCOL the code does not follow (or whose endpoint port belongs to the
other protocol) exports nothing, silently: this catches it before a deployment does.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest

from referral_bus import tracing
from tests.support.k8s import K8S_DIR, OVERLAYS, build

# The standard variables (OpenTelemetry SDK environment specification) the manifests may set.
STANDARD = {
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PROPAGATORS",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
    *(
        f"OTEL_EXPORTER_OTLP{scope}_{name}"
        for scope in ("", "_TRACES")
        for name in (
            "ENDPOINT",
            "PROTOCOL",
            "HEADERS",
            "TIMEOUT",
            "COMPRESSION",
            "CERTIFICATE",
            "CLIENT_KEY",
            "CLIENT_CERTIFICATE",
            "INSECURE",
        )
    ),
}
WORKERS = tuple(f"referral-bus-{s}" for s in ("intake", "routing", "notifier", "stats", "inbox", "ledger"))


@cache
def _objects(overlay: str) -> list[dict[str, Any]]:
    """One overlay's objects, built once for all its workers."""
    return build(K8S_DIR / "overlays" / overlay)


def _worker_env(objects: list[dict[str, Any]], deployment: str) -> dict[str, str]:
    """The literal environment one worker container gets: its envFrom ConfigMaps, then its own env values."""
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    (dep,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == deployment]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("deployment", WORKERS)
def test_each_worker_exports_traces_the_way_the_code_reads_the_variables(
    overlay: str, deployment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _worker_env(_objects(overlay), deployment)
    otel = {k: v for k, v in env.items() if k.startswith("OTEL_")}
    unknown = sorted(set(otel) - STANDARD)
    assert not unknown, f"[{overlay}] {deployment}: not standard OpenTelemetry variables: {unknown}"

    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(key)
    for key, value in otel.items():
        monkeypatch.setenv(key, value)
    assert tracing.tracing_enabled(), f"[{overlay}] {deployment}: no OTLP endpoint: traces would not leave the pod"
    protocol = tracing.otlp_protocol(otel)  # raises for a protocol the code cannot export with
    endpoint = otel.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or otel["OTEL_EXPORTER_OTLP_ENDPOINT"]
    port = urlsplit(endpoint).port
    assert port == tracing.OTLP_PROTOCOLS[protocol], (
        f"[{overlay}] {deployment}: OTEL_EXPORTER_OTLP_PROTOCOL={protocol} but the endpoint {endpoint} uses port "
        f"{port}, the other protocol's standard port"
    )
    assert otel.get("OTEL_SERVICE_NAME") == deployment, f"[{overlay}] {deployment}: OTEL_SERVICE_NAME"


def test_the_check_catches_a_protocol_the_code_does_not_follow() -> None:
    """The agreement above can fail: http/json (no exporter here) and a port/protocol mismatch."""
    from referral_bus.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        tracing.otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    assert tracing.OTLP_PROTOCOLS[tracing.otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})] == 4317
    assert tracing.OTLP_PROTOCOLS[tracing.otlp_protocol({})] == 4318
