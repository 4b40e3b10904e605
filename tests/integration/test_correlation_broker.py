"""Correlation through the real broker: the same content from two agencies is one case, each report routed.

Real `faust worker` processes on the local broker: intake alone for the cases topic, then the three
services with a real webhook receiver and SMTP server for what recipients actually get.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.settings import REPO_ROOT
from referral_devstack.agencies import local_agencies
from referral_devstack.reading import read_topic
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from referral_devstack.workers import Workers, running, temp_workdir
from referral_domain import jurisdictions
from referral_domain.safeguards import Facts, Gate, load_safeguards
from services.intake.accept import case_id_for, report_key
from services.routing.gating import apply_gate
from services.routing.rules import CaseView, load_rules
from tests.support.agency_reports import cases_until, fresh_content, report_with, reports_of, send_report
from tests.support.lanes import lane_names
from tests.support.polling import wait_for
from tests.support.reports import PII, valid_report

pytestmark = [pytest.mark.kafka]

AGENCY_A = "vn-hotline-111"
AGENCY_B = "platform-examplesocial"
codec = Codec()


@pytest.fixture(autouse=True, params=["true", "false"], ids=["here", "hops"])
def local_correlation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: correlated on the worker that holds the keys (the default), and through the hops."""
    monkeypatch.setenv("INTAKE_LOCAL_CORRELATION", request.param)
    return str(request.param)


@contextlib.contextmanager
def intake_only(ns: str, kafka: str, **env: str) -> Iterator[Workers]:
    with running(ns, {"KAFKA_BOOTSTRAP_SERVERS": kafka, **env}, "intake", prefix="corr-") as workers:
        yield workers


async def test_two_agencies_same_sha256_within_the_window_make_one_case_and_one_update(
    kafka: str, namespace: str, local_correlation: str
) -> None:
    sha, _ = fresh_content()
    a = report_with(AGENCY_A, sha, "https://social.example.invalid/p/a-only")
    b = report_with(AGENCY_B, sha, "https://other.example.invalid/v/b-only")  # shares only the hash
    with intake_only(namespace, kafka) as workers:
        await send_report(kafka, a)
        # the first case is out before the second agency reports (otherwise either could be first)
        first = await cases_until(kafka, lambda cs: a["report_id"] in reports_of(cs))
        assert [c["report"]["report_id"] for c in first] == [a["report_id"]]
        workers.wait_ready()  # no rebalance running (while one runs, a report takes the hops: see the split test)
        await send_report(kafka, b)
        cases = await cases_until(kafka, lambda cs: b["report_id"] in reports_of(cs))
        assert workers.procs["intake"].poll() is None, workers.tail("intake")
    case_a = case_id_for(AGENCY_A, a["report_id"])
    assert len(cases) == 2, [(c["case_id"], c["is_update"]) for c in cases]
    original, update = cases
    assert original["case_id"] == case_a and original["is_update"] is False and original["linked_reports"] == []
    assert update["case_id"] == case_a, "the second agency's report joins the first case"
    assert update["is_update"] is True
    assert update["linked_reports"] == [{"agency_id": AGENCY_B, "report_id": b["report_id"], "matched_on": "hash"}]
    assert update["report"]["report_id"] == b["report_id"]
    assert case_id_for(AGENCY_B, b["report_id"]) not in {c["case_id"] for c in cases}

    hops = await read_topic(topics.name(topics.CORRELATION), until=lambda rs: False, timeout=5, bootstrap=kafka)
    if local_correlation == "true":  # one worker holds every partition: no hop, no verdict
        verdicts = await read_topic(
            topics.name(topics.CORRELATION_VERDICTS), until=lambda rs: False, timeout=3, bootstrap=kafka
        )
        assert hops == [] and verdicts == []
        return
    # the correlation round trip carried ids and content-key digests, never the case
    verdicts = await read_topic(
        topics.name(topics.CORRELATION_VERDICTS), until=lambda rs: len(rs) >= 2, timeout=30, bootstrap=kafka
    )
    assert len(verdicts) == 2 and len(hops) >= 4  # two lookups and two claims per report (a hash and a URL)
    for r in [*hops, *verdicts]:
        assert len(r.value) < 1024
        text = r.value.decode("utf-8")
        for secret in [*PII.values(), "social.example", "other.example", sha]:
            assert secret not in text, f"{r.topic} carries part of the case"
    assert {r.key for r in verdicts} == {report_key(x["agency_id"], x["report_id"]).encode() for x in (a, b)}


async def test_outside_the_window_two_agencies_make_two_cases(kafka: str, namespace: str) -> None:
    sha, url = fresh_content()
    a, b = report_with(AGENCY_A, sha, url), report_with(AGENCY_B, sha, url)
    with intake_only(namespace, kafka, INTAKE_CORRELATION_WINDOW_HOURS="0") as workers:
        await send_report(kafka, a)
        await cases_until(kafka, lambda cs: a["report_id"] in reports_of(cs))
        await send_report(kafka, b)
        cases = await cases_until(kafka, lambda cs: b["report_id"] in reports_of(cs))
        assert workers.procs["intake"].poll() is None, workers.tail("intake")
    # two cases on (possibly) two partitions of the cases topic: compare without order
    assert sorted((c["case_id"], c["is_update"], c["linked_reports"]) for c in cases) == sorted(
        [
            (case_id_for(AGENCY_A, a["report_id"]), False, []),
            (case_id_for(AGENCY_B, b["report_id"]), False, []),
        ]
    )


async def test_an_agency_over_its_claim_limit_and_a_home_page_link_nothing(
    kafka: str, namespace: str, tmp_path: Path
) -> None:
    registry = yaml.safe_load((REPO_ROOT / "config" / "agencies.yaml").read_text(encoding="utf-8"))
    for agency in registry["agencies"]:
        if agency["id"] == AGENCY_A:
            agency["correlation_claims_per_day"] = 0  # this agency may claim no content at all
    path = tmp_path / "agencies.yaml"
    path.write_text(yaml.safe_dump(registry), encoding="utf-8")
    sha, url = fresh_content()
    a, b = report_with(AGENCY_A, sha, url), report_with(AGENCY_B, sha, url)
    home_c = valid_report(
        agency_id="ngo-safe-online", content_hashes=[], content_urls=["https://www.social.example.invalid/"]
    )
    home_d = valid_report(
        agency_id="platform-examplevideo",
        content_hashes=[],
        content_urls=["http://social.example.invalid/index.html?utm_source=share&fbclid=x"],
    )
    with intake_only(namespace, kafka, INTAKE_AGENCIES_PATH=str(path)) as workers:
        await send_report(kafka, a)
        await send_report(kafka, home_c)
        await cases_until(kafka, lambda cs: {a["report_id"], home_c["report_id"]} <= reports_of(cs))
        await send_report(kafka, b)
        await send_report(kafka, home_d)
        cases = await cases_until(kafka, lambda cs: {b["report_id"], home_d["report_id"]} <= reports_of(cs))
        assert workers.procs["intake"].poll() is None, workers.tail("intake")
    got = {c["report"]["report_id"]: (c["case_id"], c["is_update"]) for c in cases}
    for r in (a, b, home_c, home_d):  # each its own case: nothing was claimed, a home page is no content key
        assert got[r["report_id"]] == (case_id_for(r["agency_id"], r["report_id"]), False), r["agency_id"]


def routing_linked_count(port: int) -> float:
    """routing's `linked` outcome counter from its /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("referral_bus_events_total{") and 'stage="routing"' in line and 'outcome="linked"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


PROVINCES = ["VN-HN", "VN-SG", "VN-DN", "VN-HP", "VN-CT", "VN-HUE", "VN-44", "VN-49", "VN-26", "VN-57"]


def gated_recipients(ruleset: Any, case: dict[str, Any]) -> set[str]:
    """Who a case goes to on its own facts: the shipped rules, then the safeguards gate."""
    decision = ruleset.decide(CaseView.from_case(case))
    guards = load_safeguards(REPO_ROOT / "config" / "safeguards.yaml", dev_insecure_transport=True)  # as the workers
    apply_gate(decision, Facts.from_case(case), Gate(guards, ruleset.directory))
    return {c.recipient.id for c in decision.recipients}


def pick_provinces(ruleset: Any, case_a: str, a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    """Two victims' provinces whose referrals share a recipient and differ in one (the test needs both)."""
    for pa in PROVINCES:
        for pb in PROVINCES:
            if pa == pb or not jurisdictions.is_known(pa) or not jurisdictions.is_known(pb):
                continue
            ra = gated_recipients(
                ruleset, {"case_id": case_a, "report": {**a, "victim": {**a["victim"], "jurisdiction": pa}}}
            )
            rb = gated_recipients(
                ruleset, {"case_id": case_a, "report": {**b, "victim": {**b["victim"], "jurisdiction": pb}}}
            )
            if ra & rb and rb - ra:
                return pa, pb
    raise AssertionError("no two provinces whose referrals overlap and differ: the sample data changed")


async def test_a_linked_report_is_routed_on_its_own_facts_holders_get_an_update_new_recipients_a_referral(
    kafka: str, namespace: str
) -> None:
    sha, url = fresh_content()
    other_sha, _ = fresh_content()
    # the same content URL (written differently), different hashes, victims and provinces
    a = report_with(AGENCY_A, sha, url)
    b = report_with(AGENCY_B, other_sha, url.replace("https://", "http://www.") + "/?utm_source=share")
    b["severity"], b["escalation_reason"] = "IMMINENT_DANGER", "live abuse announced"
    b["victim"] = {**b["victim"], "age_band": "UNDER_13"}
    case_a = case_id_for(AGENCY_A, a["report_id"])
    web, mail = WebhookReceiver(), MailReceiver()
    await web.start()
    mail.start()
    with temp_workdir("corr-e2e-") as work:
        directory, env = local_agencies(work, web, mail)
        ruleset = load_rules(directory, REPO_ROOT / "config" / "rules.yaml")
        pa, pb = pick_provinces(ruleset, case_a, a, b)
        a["victim"]["jurisdiction"], b["victim"]["jurisdiction"] = pa, pb
        first = gated_recipients(ruleset, {"case_id": case_a, "report": a})
        own = gated_recipients(ruleset, {"case_id": case_a, "report": b})  # the linked report on its own facts
        guards = load_safeguards(REPO_ROOT / "config" / "safeguards.yaml", dev_insecure_transport=True)
        b_facts = Facts.from_case({"case_id": case_a, "report": b})
        # ... plus every holder of the case the gate admits for the linked report's facts (all: a child)
        second = own | {r for r in first if Gate(guards, ruleset.directory).admit(b_facts, r) is None}
        holders, newcomers = first & second, second - first
        print("provinces", pa, pb, "first:", sorted(first), "own:", sorted(own), "told:", sorted(second))
        assert first - own, "the test needs a holder the linked report's own rules would not choose"
        channel = {r.id: r.channel.type for r in ruleset.directory.recipients.values()}
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka, **env})
        try:
            workers.start_all()
            workers.wait_ready(timeout=150)
            await send_report(kafka, a)
            await cases_until(kafka, lambda cs: a["report_id"] in reports_of(cs))
            await send_report(kafka, b)
            cases = await cases_until(kafka, lambda cs: b["report_id"] in reports_of(cs))
            assert [(c["case_id"], c["is_update"]) for c in cases] == [(case_a, False), (case_a, True)]

            def decode_all(rs: list[Any]) -> list[dict[str, Any]]:
                return [codec.decode(r.value, "Referral") for r in rs]

            def done(rs: list[Any]) -> bool:
                got = decode_all(rs)
                by_a = {r["recipient_id"] for r in got if r["link"] is None}
                by_b = {r["recipient_id"] for r in got if r["link"] is not None}
                return by_a >= first and by_b >= second

            referrals = decode_all(await read_topic(lane_names(), until=done, timeout=90, bootstrap=kafka))
            of_a = {r["recipient_id"]: r for r in referrals if r["link"] is None}
            of_b = {r["recipient_id"]: r for r in referrals if r["link"] is not None}
            (a_priority,) = {r["priority"] for r in of_a.values()}
            assert Counter(r["recipient_id"] for r in referrals if r["link"] is None) == Counter(first)
            assert Counter(r["recipient_id"] for r in referrals if r["link"] is not None) == Counter(second)
            assert {r["case_id"] for r in referrals} == {case_a}, "the linked report joins the first case"
            for rid, ref in of_b.items():
                assert ref["case"]["report"]["report_id"] == b["report_id"], "the linked report's own facts"
                assert ref["priority"] == "P1" and ref["link"]["case_id"] == case_a
                assert ref["link"]["agency_id"] == AGENCY_B and ref["link"]["matched_on"] == "url"
                assert ref["referral_id"] != of_a.get(rid, {}).get("referral_id"), "its own idempotency key"
                if rid in holders:
                    assert ref["link"]["update"] is True and ref["link"]["update_of"] == of_a[rid]["referral_id"]
                else:
                    assert ref["link"]["update"] is False and ref["link"]["update_of"] is None
                assert ref["link"]["raised_from"] == (None if a_priority == "P1" else a_priority)
            assert all(r["ack_sla_seconds"] <= min(x["ack_sla_seconds"] for x in of_a.values()) for r in of_b.values())
            decisions = await read_topic(topics.name(topics.DECISIONS), until=lambda rs: len(rs) >= 2, bootstrap=kafka)
            recs = [codec.decode(r.value, "RoutingDecision") for r in decisions]
            assert [(d["case_id"], d["report_id"], d["linked_report"]) for d in recs] == [
                (case_a, a["report_id"], False),
                (case_a, b["report_id"], True),
            ]
            assert set(recs[1]["updated_recipients"]) == holders and recs[0]["decision_id"] != recs[1]["decision_id"]
            linked = await wait_for(lambda: routing_linked_count(workers.ports["routing"]) >= 1, 60)
            assert linked, workers.tail("routing")

            # what webhook recipients actually receive: the update and the new referral, told about the link
            want = {(rid, False) for rid in first if channel[rid] == "webhook"}
            want |= {(rid, True) for rid in second if channel[rid] == "webhook"}

            def received() -> set[tuple[str, bool]]:
                return {(d.recipient_id, d.json()["link"] is not None) for d in web.deliveries}

            reached = await wait_for(lambda: received() >= want, 90)
            assert reached, (sorted(want - received()), workers.tail("notifier"))
            assert Counter((d.recipient_id, d.json()["link"] is not None) for d in web.deliveries) == Counter(want)
            for d in web.deliveries:
                doc = d.json()
                if doc["link"] is not None:
                    assert doc["link"]["update"] == (d.recipient_id in holders)
                    assert doc["case"]["case_id"] == case_a and doc["priority"] == "P1"
            assert newcomers, "the test needs a recipient the first report did not reach"
            for name in ("intake", "routing", "notifier"):
                assert workers.procs[name].poll() is None, workers.tail(name)
        finally:
            workers.stop_all()
            await web.stop()
            mail.stop()


async def test_a_refusing_adults_linked_report_never_reaches_a_holder_the_gate_refuses(
    kafka: str, namespace: str
) -> None:
    sha, url = fresh_content()
    child = report_with(AGENCY_A, sha, url)  # a child: police and child protection hold the case
    adult = report_with(AGENCY_B, sha, url)
    adult["victim"] = {**adult["victim"], "age_band": "ADULT", "is_minor": False}
    adult["consent"], adult["consented_services"] = "REFUSED", ["health"]
    case_a = case_id_for(AGENCY_A, child["report_id"])
    with running(namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka}, "intake", "routing", prefix="corr-gate-") as workers:
        await send_report(kafka, child)
        await cases_until(kafka, lambda cs: child["report_id"] in reports_of(cs))
        await send_report(kafka, adult)

        def decisions_of(rs: list[Any]) -> list[dict[str, Any]]:
            return [codec.decode(r.value, "RoutingDecision") for r in rs]

        decisions = decisions_of(
            await read_topic(
                topics.name(topics.DECISIONS),
                until=lambda rs: adult["report_id"] in {d["report_id"] for d in decisions_of(rs)},
                timeout=90,
                bootstrap=kafka,
            )
        )
        referrals = [
            codec.decode(r.value, "Referral")
            for r in await read_topic(lane_names(), until=lambda rs: False, timeout=5, bootstrap=kafka)
        ]
        for name in ("intake", "routing"):
            assert workers.procs[name].poll() is None, workers.tail(name)
    first, linked = decisions
    assert (first["report_id"], linked["report_id"], linked["case_id"]) == (
        child["report_id"],
        adult["report_id"],
        case_a,
    )
    holders = {r["recipient_id"] for r in first["recipients"]}
    kinds = {
        r.id: r.kind
        for r in load_rules(
            REPO_ROOT / "config" / "recipients.yaml", REPO_ROOT / "config" / "rules.yaml"
        ).directory.recipients.values()
    }
    told = {r["recipient_id"] for r in referrals if r["link"] is not None}
    assert told == {r["recipient_id"] for r in linked["recipients"]}
    assert not {rid for rid in told if kinds[rid] in ("police", "child_protection", "international_partner")}, told
    assert all(kinds[rid] == "health" for rid in told), told
    refused_holders = {r["recipient_id"] for r in linked["refused"] if r["path"] == "holder"}
    assert refused_holders == holders - told and refused_holders, linked["refused"]
