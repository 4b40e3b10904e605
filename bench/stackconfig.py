"""The recipients directory and rules a benchmark stack uses: one webhook referral per report.

Built from the shipped directory (its provincial police recipients, webhooks rewritten to the
local receiver), so every report makes exactly the same three hops and one HTTP delivery as the
baselines. The referrals per report are computed with the real rules engine and safeguards gate,
not assumed, and checked before a stack starts (`check_one_referral`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from referral_bus.settings import REPO_ROOT

SHIPPED_DIRECTORY = REPO_ROOT / "config" / "recipients.yaml"
SHIPPED_AGENCIES = REPO_ROOT / "config" / "agencies.yaml"
# Every report claims its content keys, as in a day of normal traffic: the shipped limit (5,000 a day per agency
# and partition) would be spent within the first tens of thousands of reports, and every report after it would
# skip the claims (a cheaper path than a real day's) for the rest of the run.
CLAIMS_PER_DAY = 1_000_000_000

RULES = {
    "version": 1,
    "default_recipient": None,  # filled in with the first recipient kept
    "default_priority": "P3",
    "default_ack_sla": "24h",
    "rules": [
        {
            "id": "bench-police-at-province",
            "description": "Benchmark rule: every report goes to the police of the victim's province.",
            "when": {"victim_jurisdiction": ["VN"]},
            "then": {
                "recipients": [{"kind": "police", "at": "victim_jurisdiction"}],
                "priority": "P2",
                "ack_sla": "4h",
            },
        }
    ],
}


def write_config(workdir: Path, webhook_base: str) -> tuple[Path, Path]:
    """Write recipients.yaml (provincial police webhooks only) and rules.yaml into `workdir`."""
    data = yaml.safe_load(SHIPPED_DIRECTORY.read_text(encoding="utf-8"))
    kept: list[dict[str, Any]] = []
    for r in data["recipients"]:
        provincial = all("-" in j for j in r.get("jurisdictions", []))
        if r["kind"] == "police" and r["channel"]["type"] == "webhook" and provincial:
            r = dict(r)
            r["channel"] = {**r["channel"], "url": f"{webhook_base}/{r['id']}"}
            r.pop("escalation_target", None)
            kept.append(r)
    data["recipients"] = kept
    directory = workdir / "recipients.yaml"
    directory.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    rules = dict(RULES, default_recipient=kept[0]["id"])
    rules_path = workdir / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    return directory, rules_path


def write_agencies(workdir: Path, claims_per_day: int = CLAIMS_PER_DAY) -> Path:
    """Write the shipped agency registry with every agency's daily correlation claim limit at `claims_per_day`."""
    data = yaml.safe_load(SHIPPED_AGENCIES.read_text(encoding="utf-8"))
    data["correlation_claims_per_day"] = claims_per_day
    data["agencies"] = [{k: v for k, v in a.items() if k != "correlation_claims_per_day"} for a in data["agencies"]]
    path = workdir / "agencies.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def referrals_per_report(directory: Path, rules: Path, reports: list[dict[str, Any]]) -> list[int]:
    """How many referrals the real rules engine and safeguards gate let out for each report (the bench needs 1).

    A refused or missing safeguard counts as -1: routing dead-letters that case (extra work the baselines skip).
    """
    from referral_bus.settings import SafeguardSettings
    from referral_domain.safeguards import Facts, Gate, load_safeguards
    from services.intake.accept import case_id_for
    from services.routing.gating import apply_gate
    from services.routing.rules import CaseView, load_rules

    ruleset = load_rules(directory, rules)
    # the stack's workers run with REFERRAL_BUS_DEV_INSECURE_TRANSPORT (referral_devstack.workers)
    gate = Gate(load_safeguards(SafeguardSettings().safeguards_path, dev_insecure_transport=True), ruleset.directory)
    out = []
    for r in reports:
        case = {"case_id": case_id_for(r["agency_id"], r["report_id"]), "report": r}
        decision = apply_gate(ruleset.decide(CaseView.from_case(case)), Facts.from_case(case), gate)
        out.append(-1 if decision.refused else len(decision.recipients))
    return out


def check_one_referral(directory: Path, rules: Path, reports: list[dict[str, Any]]) -> None:
    """Refuse to benchmark when any generated report would not make exactly one admitted referral."""
    counts = referrals_per_report(directory, rules, reports)
    bad = sorted({n for n in counts if n != 1})
    if bad:
        raise RuntimeError(
            f"bench: {sum(n != 1 for n in counts)} of {len(counts)} generated reports make {bad} referrals "
            "(-1: a safeguard refused or was not met) instead of exactly 1; the comparison with the baselines "
            "needs one delivery per report: fix bench/reports.py or bench/stackconfig.py"
        )
