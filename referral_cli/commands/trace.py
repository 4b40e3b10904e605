"""`referral-bus trace ID`: one report's flow (by report id, case id or trace id), read from Jaeger.

Finds the trace(s) by tag search (`referral_bus.case_id` / `referral_bus.report_id`) across every
service Jaeger knows, and prints each as an indented tree: start offset from the trace's first span
(where it waited), duration, service, span name and outcome. No trace: `TraceNotFoundError`, saying what to
check, the sampling setting (OTEL_TRACES_SAMPLER) first where reports are sampled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from typing import Any

from referral_bus.settings import TracingSettings
from referral_cli.commands import add, arg
from referral_devstack.errors import TraceNotFoundError
from referral_devstack.jaeger import DEFAULT_QUERY_PORT, JaegerClient
from referral_devstack.settings import DevstackSettings

_TRACE_ID = re.compile(r"^[0-9a-f]{16,32}$")


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t.get("value") for t in span.get("tags", [])}


def outcome(span: dict[str, Any]) -> str:
    """`ERROR (type)` for a failed span, else our recorded outcome, the HTTP status, or `ok`."""
    tags = _tags(span)
    if tags.get("otel.status_code") == "ERROR" or tags.get("error") is True:
        return f"ERROR ({tags.get('error.type') or tags.get('otel.status_description') or 'error'})"
    if "referral_bus.outcome" in tags:
        return str(tags["referral_bus.outcome"])
    for key in ("http.response.status_code", "http.status_code"):
        if key in tags:
            return f"HTTP {tags[key]}"
    return "ok"


def _detail(span: dict[str, Any]) -> str:
    """Rules and recipients our stages recorded (identifiers only)."""
    tags = _tags(span)
    parts = []
    for key, label in (("rule_ids", "rules"), ("recipient_id", "recipient"), ("recipient_ids", "recipients")):
        value = tags.get(f"referral_bus.{key}")
        if isinstance(value, str) and value.startswith("["):  # Jaeger keeps array attributes as JSON
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if value:
            parts.append(f"{label}={','.join(value) if isinstance(value, list) else value}")
    return ("  " + " ".join(parts)) if parts else ""


def _parent(span: dict[str, Any]) -> str | None:
    for ref in span.get("references", []):
        if ref.get("refType") == "CHILD_OF":
            return str(ref["spanID"])
    return None


def render(trace: dict[str, Any]) -> list[str]:
    """The trace as indented lines: `+start  duration  service  span name  outcome`, children under parents."""
    spans = {s["spanID"]: s for s in trace.get("spans", [])}
    if not spans:
        return []
    processes = trace.get("processes", {})
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans.values():
        parent = _parent(span)
        children.setdefault(parent if parent in spans else None, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: (s["startTime"], s["operationName"]))
    t0 = min(s["startTime"] for s in spans.values())
    end = max(s["startTime"] + s["duration"] for s in spans.values())
    ids: dict[str, Any] = {}
    for span in spans.values():
        tags = _tags(span)
        for key in ("report_id", "case_id"):
            if f"referral_bus.{key}" in tags:
                ids.setdefault(key, tags[f"referral_bus.{key}"])
    services = {processes.get(s["processID"], {}).get("serviceName", "?") for s in spans.values()}
    head = f"trace {trace.get('traceID', '?')}"
    if ids:
        head += " (" + ", ".join(f"{k} {v}" for k, v in sorted(ids.items(), reverse=True)) + ")"
    lines = [head + f": {len(spans)} spans, {len(services)} services, {(end - t0) / 1000:.1f} ms"]
    width = max(len(s) for s in services)

    def walk(span: dict[str, Any], depth: int) -> None:
        service = processes.get(span["processID"], {}).get("serviceName", "?")
        start = (span["startTime"] - t0) / 1000
        lines.append(
            f"{'+' + format(start, '.1f') + 'ms':>11} {span['duration'] / 1000:>9.1f}ms  "
            f"{service:<{width}}  {'  ' * depth}{span['operationName']}  [{outcome(span)}]{_detail(span)}"
        )
        for child in children.get(span["spanID"], []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return lines


def find_traces(client: JaegerClient, ident: str) -> list[dict[str, Any]]:
    """Every trace holding `ident` as case id, report id, or trace id; oldest first."""
    if _TRACE_ID.match(ident):
        found = client.trace(ident)
        if found:
            return [found]
    key = "referral_bus.case_id" if ident.startswith("case-") else "referral_bus.report_id"
    ids: set[str] = set()
    for service in client.services():
        if service.startswith("jaeger"):
            continue
        for t in client.find(service, {key: ident}):
            ids.add(t["traceID"])
    traces = [t for t in (client.trace(i) for i in sorted(ids)) if t]
    return sorted(traces, key=lambda t: min((s["startTime"] for s in t["spans"]), default=0))


# OTEL_TRACES_SAMPLER values that trace every report (unset: the SDK's default, parentbased_always_on)
EVERY_REPORT = frozenset(("", "parentbased_always_on", "always_on"))


def not_found(jaeger: str, sampler: str, ratio: str, services: list[str]) -> str:
    """Why a report has no trace, and what to do: the sampling setting first where it samples (no value of the id)."""
    where = f"no trace for this id in Jaeger at {jaeger}"
    setting = sampler.strip().lower()
    if setting not in EVERY_REPORT:
        share = f"OTEL_TRACES_SAMPLER_ARG={ratio or '1.0 (unset)'}"
        return (
            f"{where}. Reports are sampled here (OTEL_TRACES_SAMPLER={setting}, {share}): the first process of a "
            "report (`referral-bus produce`, or intake for a report sent without a traceparent) keeps its whole "
            "trace or none of it, so this report was most likely not sampled. To trace every report, set "
            "OTEL_TRACES_SAMPLER=parentbased_always_on (the deployment's default) where reports start; "
            "otherwise check the id (report id, case id or trace id)"
        )
    ours = [s for s in services if s.startswith("referral-bus")]
    if not ours:
        return (
            f"{where}, nor any referral-bus span: check that the workers export (OTEL_EXPORTER_OTLP_ENDPOINT) to "
            "this Jaeger and that it has not been restarted (it keeps traces in memory)"
        )
    return (
        f"{where}: check the id (report id, case id or trace id). If the workers or `referral-bus produce` set "
        "OTEL_TRACES_SAMPLER to a ratio (e.g. parentbased_traceidratio), a report not sampled has no trace at all: "
        "parentbased_always_on (the deployment's default) traces every report"
    )


def _run(args: argparse.Namespace) -> int:
    client = JaegerClient(args.jaeger)
    traces = find_traces(client, args.id)
    if not traces:
        settings = TracingSettings()
        raise TraceNotFoundError(
            not_found(args.jaeger, settings.traces_sampler, settings.traces_sampler_arg, client.services())
        )
    for n, t in enumerate(traces):
        if n:
            print()
        print("\n".join(render(t)))
    return 0


def register(sub: Any) -> None:
    """Add the `trace` command."""
    jaeger = arg(
        "--jaeger",
        default=DevstackSettings().jaeger_url or f"http://127.0.0.1:{DEFAULT_QUERY_PORT}",
        help="Jaeger query URL (default: $REFERRAL_BUS_JAEGER_URL or http://127.0.0.1:16686)",
    )
    trace_id = arg("id", help="report id, case id (case-...) or trace id")
    add(sub, "trace", _run, "one report's flow across the services, from the trace backend (Jaeger)", trace_id, jaeger)
