"""No victim is ever exposed to operators: reports whose every free-text or identifying string field holds
a distinctive value go through the three real workers with tracing to a real Jaeger; no log line, span
(name, attribute, event, resource), metric label, error message or dead-letter reason contains any of
those values, and each recipient's payload holds only what its data profile allows.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.jaeger import Jaeger, JaegerClient
from referral_devstack.reading import read_topic
from referral_domain.directory import load_directory
from services.notifier.redaction import load_profiles
from tests.support.polling import poll
from tests.support.tracing import SERVICES, sample, start_stack, stop_stack

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.timeout(2400)]


def marker(kind: str) -> str:
    """A value that cannot occur by chance."""
    return f"zq{kind}{secrets.token_hex(6)}"


# Every string field of the report that is not an identifier or code the bus shows by design (report and
# agency ids, jurisdiction and country codes, content hashes): report path → marker per report.
FIELDS: list[dict[str, str]] = []


def with_pii(report: dict[str, Any], markers: list[str]) -> dict[str, Any]:
    """The report with every PII field filled with fresh markers (collected in `markers` and `FIELDS`)."""
    out = json.loads(json.dumps(report))
    source, reason, platform = marker("source"), marker("reason"), marker("platform")
    url = f"https://social.example.invalid/{marker('url')}"
    out.update(source_system=source, escalation_reason=reason, platform=platform, content_urls=[url])
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
    markers.extend([name, vcontact, vhandle, oname, ohandle, reporter, narrative_token, ip, source, reason])
    markers.extend([platform, url])
    FIELDS.append(
        {
            "victim.name": name,
            "victim.contact": vcontact,
            "victim.account_handle": vhandle,
            "offender.name": oname,
            "offender.account_handle": ohandle,
            "offender.ip_address": ip,
            "reporter_contact": reporter,
            "narrative": narrative_token,
            "source_system": source,
            "escalation_reason": reason,
            "platform": platform,
            "content_urls": url,
        }
    )
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
    # dead-letter reasons and fields (the error messages operators read) name no value either
    codec = Codec()
    letters = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 2, timeout=60)
    reasons = "\n".join(
        f"{d['reason']} {d['message']} {d['field']}" for d in (codec.decode(r.value, "DeadLetter") for r in letters)
    )
    assert len(letters) >= 2 and "invalid_field" in reasons
    for m in markers:
        if m in reasons:
            leaks.append(f"dead letter: {m}")
    # each recipient's payload holds only what its profile allows (profiles.yaml + the pii annotations)
    directory = load_directory(stack.work / "recipients.yaml")
    profiles = load_profiles()
    for d in stack.web.deliveries:
        profile = profiles[directory.recipients[d.recipient_id].data_profile]
        allowed = {"report." + f for f in FIELDS[0]} if profile.allow_all_pii else profile.allow_pii
        body = d.body.decode()
        for fields in FIELDS:
            for path, value in fields.items():
                if value in body and "report." + path not in allowed:
                    leaks.append(f"{d.recipient_id} ({profile.name}) received {path}")
    assert not leaks, "\n".join(leaks)
