"""The recipients directory and rules a benchmark stack uses: one webhook referral per report.

Built from the shipped directory (its provincial police recipients, webhooks rewritten to the
local receiver), so every report makes exactly the same three hops and one HTTP delivery as the
baselines. The expected recipients are computed with the real rules engine, not assumed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from referral_bus.settings import REPO_ROOT

SHIPPED_DIRECTORY = REPO_ROOT / "config" / "recipients.yaml"

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


def referrals_per_report(directory: Path, rules: Path, reports: list[dict[str, Any]]) -> list[int]:
    """How many webhook referrals the real rules engine gives each report (the benchmark needs 1)."""
    from services.intake.accept import case_id_for
    from services.routing.rules import CaseView, load_rules

    ruleset = load_rules(directory, rules)
    out = []
    for r in reports:
        case = {"case_id": case_id_for(r["agency_id"], r["report_id"]), "report": r}
        out.append(len(ruleset.decide(CaseView.from_case(case)).recipients))
    return out
