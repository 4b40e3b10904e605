"""Routing's per-case work without Kafka: decode, decide, gate, plan, records, encode (the handler's sequence).

`python -m bench.bench_routing [--cases 2000] [--repeats 7]` prints the median CPU µs per case over the
bench's own reports and configuration (bench/reports.py, bench/stackconfig.py: one police referral each).
Run it on two commits to compare the pure path; the worker's whole CPU per case is bench/routing_drain.py's.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.reports import ReportStream
from bench.stackconfig import write_config
from referral_bus.codec import Codec
from referral_bus.settings import SafeguardSettings
from referral_bus.status import agency_and_report, status_record
from referral_domain.safeguards import Facts, Gate, load_safeguards
from services.intake.accept import Intake, report_key
from services.routing.decisions import decision_record, referral_id_for, referral_records
from services.routing.gating import apply_gate
from services.routing.linked import CaseState, add_holders, plan
from services.routing.rules import CaseView, RuleSet, load_rules


def encoded_cases(codec: Codec, n: int) -> list[tuple[bytes, bytes]]:
    """`n` (key, Case record) as intake writes them, from the bench's report stream."""
    intake = Intake(codec, {}, clock_skew_ms=10**12)
    out = []
    for rep in ReportStream(tag="routing-bench").take(n):
        rep["received_at"] = rep["reported_at"]
        value = codec.encode("CaseReport", rep)
        accepted: Any = intake.handle(
            report_key(rep["agency_id"], rep["report_id"]).encode(), value, now_ms=rep["reported_at"] + 1
        )
        out.append((accepted.case_id.encode(), codec.encode("Case", accepted.case)))
    return out


def route(codec: Codec, ruleset: RuleSet, gate: Gate, table: dict[str, Any], value: bytes) -> list[bytes]:
    """What RoutingHandler.case computes for one event, without the sends: the records it would produce."""
    case = codec.decode(value, "Case")
    decision = ruleset.decide(CaseView.from_case(case))
    facts = Facts.from_case(case)
    apply_gate(decision, facts, gate)
    raw = table.get(case["case_id"])
    state = None if raw is None else CaseState.from_json(raw)
    add_holders(decision, case, state, facts, gate)
    routed = plan(decision, case, state, referral_id_for)
    record = decision_record(decision, now_ms=1, held_for=case["report"].get("agency_id"), plan=routed)
    out = [codec.encode("RoutingDecision", record)]
    body = codec.current_body(value, "Case")  # as the handler does: each referral embeds the case's bytes
    referrals = referral_records(decision, record, case, now_ms=1, plan=routed)
    out.extend(
        codec.encode("Referral", r) if body is None else codec.encode_embedding("Referral", r, "case", body)
        for r in referrals
    )
    agency, report = agency_and_report(case)
    kinds = [c.recipient.kind for c in decision.recipients]
    out.append(codec.encode("ReportStatus", status_record(str(agency), str(report), "ROUTED", 1, kinds=kinds)))
    table[case["case_id"]] = routed.state.to_json()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    directory, rules_path = write_config(work, "http://127.0.0.1:9")
    ruleset = load_rules(directory, rules_path)
    # as the bench's workers run: webhooks on loopback in clear (REFERRAL_BUS_DEV_INSECURE_TRANSPORT)
    gate = Gate(load_safeguards(SafeguardSettings().safeguards_path, dev_insecure_transport=True), ruleset.directory)
    codec = Codec(schema_registry=None)
    cases = [value for _, value in encoded_cases(codec, args.cases)]
    assert all(len(route(codec, ruleset, gate, {}, v)) == 3 for v in cases[:100]), "one referral per case expected"
    runs = []
    for _ in range(args.repeats):
        table: dict[str, Any] = {}
        gc.collect()
        started = time.process_time()
        for value in cases:
            route(codec, ruleset, gate, table, value)
        runs.append((time.process_time() - started) / len(cases) * 1e6)
    print(
        f"routing per case (pure path): median {statistics.median(runs):.1f} µs CPU; runs {[round(r, 1) for r in runs]}"
    )


if __name__ == "__main__":
    main()
