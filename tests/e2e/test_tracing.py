"""One report is one trace in a real Jaeger v2: CLI produce → intake → routing → notifier → webhook call.

Jaeger is built from the Go module proxy by scripts/jaeger/install.sh (cached in .local/bin; the
first build takes several minutes, hence the long timeout) and started on free 127.0.0.1 ports.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from referral_cli.main import main as cli_main
from referral_devstack.jaeger import Jaeger, JaegerClient
from tests.support.polling import poll
from tests.support.tracing import SERVICES, sample, start_stack, stop_stack

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.timeout(2400)]


def tags(span: dict[str, Any]) -> dict[str, Any]:
    """A Jaeger span's tags as a dict."""
    return {t["key"]: t.get("value") for t in span.get("tags", [])}


def is_http_client(span: dict[str, Any]) -> bool:
    """An outgoing HTTP call (httpx instrumentation; old or stable HTTP semantic conventions)."""
    t = tags(span)
    return t.get("span.kind") == "client" and ("http.method" in t or "http.request.method" in t)


def describe(client: JaegerClient, report_id: str) -> str:
    """What Jaeger holds, for a failure message."""
    out = [f"services: {client.services()}"]
    for service in client.services():
        for t in client.find(service, {}, limit=50):
            names = sorted(f"{t['processes'][s['processID']]['serviceName']}:{s['operationName']}" for s in t["spans"])
            out.append(f"{service} trace {t['traceID']}: {names}")
    return "\n".join(out) + "\n"


def complete(trace: dict[str, Any] | None) -> bool:
    """Spans of the CLI, the three services and a webhook HTTP call are all in the trace, every parent with them."""
    if not trace:
        return False
    services = {trace["processes"][s["processID"]]["serviceName"] for s in trace["spans"]}
    http = [s for s in trace["spans"] if is_http_client(s)]
    ids = {s["spanID"] for s in trace["spans"]}
    # each worker exports in batches of its own: wait until every parent has arrived too
    whole = all(ref["spanID"] in ids for s in trace["spans"] for ref in s["references"])
    return set(SERVICES) <= services and bool(http) and whole


async def test_one_report_is_one_trace_across_every_service_and_the_webhook_call(
    kafka: str, namespace: str, jaeger: Jaeger, tmp_path: Path
) -> None:
    report = sample("HL111-2026-0001")
    report["report_id"] = f"TRC-{namespace}"
    stack = await start_stack(tmp_path, namespace, kafka, jaeger)
    client = JaegerClient(jaeger.query_url)
    try:
        rejected = sample("HL111-2026-0004")  # age band and minor flag disagree: dead-lettered by intake
        rejected["report_id"] = f"TRC-rejected-{namespace}"
        stack.produce([report, rejected])
        delivered = await poll(
            lambda: [d for d in stack.web.deliveries if d.json()["case"]["report"]["report_id"] == report["report_id"]],
            90,
        )
        assert delivered, stack.workers.tail("notifier")

        def the_trace() -> dict[str, Any] | None:
            found = client.find("referral-bus-cli", {"referral_bus.report_id": report["report_id"]})
            if len(found) != 1:
                return None
            trace = client.trace(found[0]["traceID"])
            return trace if complete(trace) else None

        trace = await poll(the_trace, 60)
        assert trace, describe(client, report["report_id"]) + jaeger.tail()

        def failed_trace() -> dict[str, Any] | None:
            found = client.find("referral-bus-intake", {"referral_bus.outcome": "invalid_field"})
            mine = [
                t
                for t in found
                if any(tags(s).get("referral_bus.report_id") == rejected["report_id"] for s in t["spans"])
            ]
            return mine[0] if mine else None

        failed = await poll(failed_trace, 60)
        assert failed, describe(client, rejected["report_id"])
    finally:
        await stop_stack(stack)

    spans = {s["spanID"]: s for s in trace["spans"]}
    service_of = {sid: trace["processes"][s["processID"]]["serviceName"] for sid, s in spans.items()}
    # one trace id, one root (the CLI's produce span), every parent resolves inside the trace
    assert {s["traceID"] for s in spans.values()} == {trace["traceID"]}
    roots = [s for s in spans.values() if not s["references"]]
    assert [(r["operationName"], service_of[r["spanID"]]) for r in roots] == [
        ("referral-bus produce", "referral-bus-cli")
    ]
    for s in spans.values():
        for ref in s["references"]:
            assert ref["traceID"] == trace["traceID"] and ref["spanID"] in spans, s["operationName"]

    # the webhook call's ancestry crosses every process in order
    http = next(s for s in spans.values() if is_http_client(s))
    assert service_of[http["spanID"]] == "referral-bus-notifier"
    chain: list[str] = []
    node: dict[str, Any] | None = http
    while node is not None:
        chain.append(f"{service_of[node['spanID']]}:{node['operationName']}")
        node = spans.get(node["references"][0]["spanID"]) if node["references"] else None
    order = [c.split(":")[0] for c in reversed(chain)]
    assert [s for i, s in enumerate(order) if i == 0 or s != order[i - 1]] == list(SERVICES), chain

    # Faust's process spans follow the messaging conventions, with our identifiers and no payload
    process = [s for s in spans.values() if tags(s).get("messaging.operation.type") == "process"]
    assert {service_of[s["spanID"]] for s in process} == set(SERVICES[1:])
    for s in process:
        t = tags(s)
        assert t["messaging.system"] == "kafka"
        assert t["messaging.destination.name"].startswith(namespace + ".referrals.")
        assert t["messaging.consumer.group.name"].startswith(namespace + ".referral-bus-")
        assert "messaging.destination.partition.id" in t and "messaging.kafka.message.offset" in t
    # no span per record sent: a process span's parent is the span current where its record was sent (the CLI's
    # root, the previous event's process span), so the report's trace holds no send span (a dead letter's aside)
    assert not [s for s in spans.values() if tags(s).get("messaging.operation.type") == "publish"]
    all_tags = [tags(s) for s in spans.values()]
    # only ids the bus minted: no raw record key (the agency's key, a content hash) on any span of either trace
    for t in all_tags + [tags(s) for s in failed["spans"]]:
        assert "messaging.kafka.message.key" not in t, t
        assert not any(rejected["report_id"] in str(v) and k != "referral_bus.report_id" for k, v in t.items()), t
    case_ids = {t["referral_bus.case_id"] for t in all_tags if "referral_bus.case_id" in t}
    assert len(case_ids) == 1
    assert any("referral_bus.rule_ids" in t for t in all_tags)
    assert any(t.get("referral_bus.recipient_id") == delivered[0].recipient_id for t in all_tags)

    # the webhook request carried this trace's context
    assert delivered[0].headers.get("traceparent", "").split("-")[1] == trace["traceID"].rjust(32, "0")

    # every worker log line written while handling this case carries the ids
    (case_id,) = case_ids
    for service in ("intake", "routing", "notifier"):
        lines = [json.loads(x) for x in stack.workers.log_path(service).read_text().splitlines() if x.startswith("{")]
        mine = [x for x in lines if x.get("case_id") == case_id]
        assert mine, f"no log line of {service} carries case_id"
        for line in mine:
            assert line["service"] == service and line["stage"] == service
            assert line["trace_id"] == trace["traceID"].rjust(32, "0") and len(line["span_id"]) == 16

    # the rejected report's trace shows where it failed: intake's process span in error, the dead letter sent
    fspans = {s["spanID"]: s for s in failed["spans"]}
    (errored,) = [
        s for s in fspans.values() if tags(s).get("otel.status_code") == "ERROR" and "process" in s["operationName"]
    ]
    assert tags(errored)["error.type"] == "invalid_field"
    assert any(
        s["operationName"].endswith("referrals.deadletter.v1 send")
        and s["references"][0]["spanID"] == errored["spanID"]
        for s in fspans.values()
        if s["references"]
    )

    # `referral-bus trace ID` prints the flow from Jaeger (by report id and by case id)
    for ident in (report["report_id"], case_id):
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli_main(["trace", ident, "--jaeger", jaeger.query_url]) == 0
        text = out.getvalue()
        print(text)
        assert text.startswith(f"trace {trace['traceID']}")
        for service in SERVICES:
            assert service in text
        assert "referral-bus produce" in text and "POST" in text


class _FirstAttemptsFail(dict[str, Any]):
    """The webhook receiver's behaviour for every recipient: the first attempt of its first 4 referrals fails (503).

    4: below the notifier's breaker threshold (5), so no recipient is paused for its reset time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, int] = {}

    def __contains__(self, recipient: object) -> bool:
        return True

    def __getitem__(self, recipient: str) -> Any:
        def status(attempt: int) -> int:
            if attempt == 1 and self.failed.get(recipient, 0) < 4:
                self.failed[recipient] = self.failed.get(recipient, 0) + 1
                return 503
            return 200

        return status


def _traceparent(delivery: Any) -> tuple[str, bool]:
    """The trace id of a delivered request and its sampled flag."""
    _, trace_id, _, flags = delivery.headers["traceparent"].split("-")
    return trace_id, bool(int(flags, 16) & 1)


async def test_sampled_reports_have_their_whole_trace_and_the_others_none(
    kafka: str, namespace: str, jaeger: Jaeger, tmp_path: Path
) -> None:
    """parentbased_traceidratio at 0.5: `produce` decides, every later hop (a retry after a 503 too) follows."""
    sampler = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}
    stack = await start_stack(tmp_path, namespace, kafka, jaeger, sampler)
    failing = _FirstAttemptsFail()
    stack.web.behaviour = failing  # some referrals delivered on their retry (parked, then released)
    client = JaegerClient(jaeger.query_url)
    reports = []
    for n in range(16):
        report = sample("HL111-2026-0001")  # same agency, distinct content: 16 cases, none linked
        report["report_id"] = f"SMP-{n}-{namespace}"
        report["content_hashes"] = [{"algorithm": "sha256", "value": f"{n:064x}"}]
        report["content_urls"] = [f"https://social.example.invalid/p/smp-{n}"]
        reports.append(report)
    try:
        stack.produce(reports)

        def by_report() -> dict[str, list[Any]] | None:
            found: dict[str, list[Any]] = {}
            for d in stack.web.deliveries:
                found.setdefault(d.json()["case"]["report"]["report_id"], []).append(d)
            settled = set(stack.web.attempts) == {d.idempotency_key for d in stack.web.deliveries}  # retries done
            same = len({len(v) for v in found.values()}) == 1  # every report's referrals (one routing for all)
            return found if len(found) == len(reports) and settled and same else None

        delivered = await poll(by_report, 120)
        assert delivered, stack.workers.tail("notifier")
        decisions = {}
        for report_id, requests in delivered.items():
            (decision,) = {_traceparent(d) for d in requests}  # one trace and one decision for all its referrals
            decisions[report_id] = decision

        def whole(report_id: str) -> dict[str, Any] | None:
            found = client.find("referral-bus-cli", {"referral_bus.report_id": report_id})
            trace = client.trace(found[0]["traceID"]) if len(found) == 1 else None
            return trace if complete(trace) else None

        sampled = {r: await poll(lambda r=r: whole(r), 60) for r, (_, kept) in decisions.items() if kept}
        assert all(sampled.values()), describe(client, "") + jaeger.tail()
    finally:
        await stop_stack(stack)  # flushes every worker's spans

    assert {kept for _, kept in decisions.values()} == {True, False}  # 16 reports at 0.5 (odds against: 1 in 2^15)
    assert failing.failed  # retries were part of it
    every: dict[str, list[Any]] = {}
    for d in stack.web.deliveries:
        every.setdefault(d.json()["case"]["report"]["report_id"], []).append(d)
    for report_id, (trace_id, kept) in decisions.items():
        assert {_traceparent(d) for d in every[report_id]} == {(trace_id, kept)}
        if kept:
            trace = client.trace(trace_id)  # as exported by the stopped workers
            assert trace is not None and complete(trace)
            assert [s["operationName"] for s in trace["spans"] if not s["references"]] == ["referral-bus produce"]
            posts = sum(stack.web.attempts[d.idempotency_key] for d in every[report_id])  # failed ones too
            assert sum(is_http_client(s) for s in trace["spans"]) == posts, report_id  # the retries' calls in it
        else:  # absent: no span of it in any service, not even a partial trace
            assert client.trace(trace_id) is None, report_id
            for service in SERVICES:
                assert not client.find(service, {"referral_bus.report_id": report_id}), (service, report_id)
