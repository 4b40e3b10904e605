"""No victim is ever exposed to operators: reports full of distinctive PII values go through the three
real workers with tracing to a real Jaeger, and no log line, span (name, attribute, event, resource)
or metric label contains any of those values.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from referral_devstack.jaeger import Jaeger, JaegerClient
from tests.support.polling import poll
from tests.support.tracing import SERVICES, running_jaeger, sample, start_stack, stop_stack

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def jaeger() -> Iterator[Jaeger]:
    """A real Jaeger v2 of this module's own."""
    yield from running_jaeger()


def marker(kind: str) -> str:
    """A value that cannot occur by chance."""
    return f"zq{kind}{secrets.token_hex(6)}"


def with_pii(report: dict[str, Any], markers: list[str]) -> dict[str, Any]:
    """The report with every PII field filled with fresh markers (collected in `markers`)."""
    out = json.loads(json.dumps(report))
    name, vcontact, vhandle = marker("vname"), marker("vmail") + "@example.org", "@" + marker("vhandle")
    oname, ohandle, reporter = (
        marker("oname"),
        "@" + marker("ohandle"),
        "+84 9" + str(secrets.randbelow(10**8)).zfill(8),
    )
    narrative_token = marker("story")
    ip = f"198.51.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"
    out["victim"].update(name=f"Lan {name}", contact=vcontact, account_handle=vhandle)
    out["offender"] = {**out.get("offender", {}), "name": oname, "account_handle": ohandle, "ip_address": ip}
    out["reporter_contact"] = reporter
    out["narrative"] = f"The child said {narrative_token} wrote to her from {ip} and {vcontact}."
    markers.extend([name, vcontact, vhandle, oname, ohandle, reporter, narrative_token, ip])
    return out


async def test_no_pii_value_in_logs_spans_or_metric_labels(
    kafka: str, namespace: str, jaeger: Jaeger, tmp_path: Path
) -> None:
    markers: list[str] = []
    reports = []
    for n, rid in enumerate(["HL111-2026-0001", "PLT-77-000042", "NGO-DN-5501", "POL-CT-2026-19"]):
        report = with_pii(sample(rid), markers)
        report["report_id"] = f"PII-{n}-{namespace}"
        reports.append(report)
    # Rejected at intake: a PII value too long for its field (validation errors must not quote it) ...
    too_long = with_pii(sample("HL111-2026-0002"), markers)
    too_long["report_id"] = f"PII-long-{namespace}"
    long_name = marker("longname") * 40  # > 512 characters
    too_long["victim"]["name"] = long_name
    markers.append(long_name[:40])
    # ... and the sample whose age band and minor flag disagree, carrying PII in every field.
    inconsistent = with_pii(sample("HL111-2026-0004"), markers)
    inconsistent["report_id"] = f"PII-inconsistent-{namespace}"
    reports += [too_long, inconsistent]

    stack = await start_stack(tmp_path, namespace, kafka, jaeger)
    client = JaegerClient(jaeger.query_url)
    metrics_text: dict[str, str] = {}
    try:
        stack.produce(reports)

        def traced(report_id: str, services: set[str]) -> bool:
            found = client.find("referral-bus-cli", {"referral_bus.report_id": report_id})
            trace = client.trace(found[0]["traceID"]) if found else None
            return bool(trace) and services <= {p["serviceName"] for p in trace["processes"].values()}

        for r in reports[:4]:
            assert await poll(lambda r=r: traced(r["report_id"], set(SERVICES)), 120), r["report_id"]
        for r in reports[4:]:
            assert await poll(lambda r=r: traced(r["report_id"], set(SERVICES[:2])), 60), r["report_id"]
        assert await poll(lambda: len(stack.web.deliveries) >= 4, 60), stack.workers.tail("notifier")
        for name, port in stack.workers.ports.items():
            metrics_text[name] = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        await stop_stack(stack)

    # the PII really travelled (recipients whose profile allows it got some of it) ...
    delivered = b"".join(d.body for d in stack.web.deliveries).decode()
    assert any(m in delivered for m in markers)
    assert 'reason="invalid_field",stage="intake"} 2.0' in metrics_text["intake"]  # both rejected reports

    # ... and none of it reached an operator's screen.
    def spans_text() -> str:
        out = []
        for service in client.services():
            out.append(json.dumps(client.find(service, {}, limit=1000)))
        return "\n".join(out)

    assert await poll(lambda: len(spans_text()) > 10_000, 30)
    exported = spans_text()
    assert "referral_bus.case_id" in exported  # the identifiers are there, the people are not
    logs = {s: stack.workers.log_path(s).read_text(errors="replace") for s in ("intake", "routing", "notifier")}
    assert all(len(text.splitlines()) > 5 for text in logs.values())
    leaks = []
    for m in markers:
        for where, text in [*logs.items(), ("jaeger", exported), *metrics_text.items()]:
            if m in text:
                line = next(x for x in text.splitlines() if m in x)
                leaks.append(f"{where}: {line[:300]}")
    assert not leaks, "\n".join(leaks)
