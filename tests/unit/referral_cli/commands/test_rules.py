"""`referral-bus rules explain` and `rules diff` on the shipped files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from referral_bus.settings import REPO_ROOT
from referral_cli.main import main

CONFIG = REPO_ROOT / "config"
CHILD_ABROAD = {
    "case_id": "case-1",
    "report": {
        "report_id": "R-1",
        "agency_id": "a",
        "category": "SEXTORTION",
        "severity": "IMMINENT_DANGER",
        "victim": {"is_minor": True, "age_band": "AGE_16_17", "jurisdiction": "VN-SG", "name": "SAMPLE name"},
        "offender": {"country": "PH", "account_handle": "@sample"},
        "hosting_country": "US",
        "preservation_requested": True,
        "consent": "NOT_REQUIRED_CHILD",
        "narrative": "SAMPLE text",
    },
}
ADULT_HUE = {
    "report_id": "R-2",
    "category": "HARASSMENT",
    "severity": "MEDIUM",
    "consent": "GIVEN",
    "victim": {"is_minor": False, "age_band": "ADULT", "jurisdiction": "VN-26"},
}


def test_explain_names_fired_rules_first_failures_reasons_and_fallbacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "cases.jsonl"
    f.write_text(json.dumps(CHILD_ABROAD) + "\n" + json.dumps(ADULT_HUE) + "\n", encoding="utf-8")
    assert main(["rules", "explain", str(f)]) == 0
    out = capsys.readouterr().out
    assert "  FIRED    child-mandatory-reporting" in out
    assert "  FIRED    cross-border-preservation" in out
    assert "  no       high-severity: first failing condition: severity in ['HIGH'] (case: 'IMMINENT_DANGER')" in out
    assert (
        "intl-ph-24-7 (international_partner) by cross-border-offender: international_partner at offender_country PH"
        in out
    )
    assert "priority P1, ack SLA 900s, escalation vn-police-duty-desk, preservation request True" in out
    assert "  no       adult-consent-given: first failing condition: victim_minor is False (case: True)" in out
    # second case: the province has no social services, the national one is used and the fallback said
    assert "[fallback: no social_services at VN-26; national social_services of VN used]" in out
    assert "SAMPLE name" not in out and "SAMPLE text" not in out  # no PII echoed


def test_explain_rejects_a_bad_case_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "case.json"
    f.write_text(json.dumps({**ADULT_HUE, "category": "SPAM"}), encoding="utf-8")
    assert main(["rules", "explain", str(f)]) == 1
    assert f"{f}:1: category: Input should be" in capsys.readouterr().out


def test_diff_lists_cases_whose_recipients_or_priority_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(CONFIG / "recipients.yaml", new / "recipients.yaml")
    rules = (CONFIG / "rules.yaml").read_text(encoding="utf-8")
    # proposed change: adults who consented also go to the health one-stop centres, at P2
    rules = rules.replace(
        "        - {kind: social_services, at: victim_jurisdiction}\n      priority: P3",
        "        - {kind: social_services, at: victim_jurisdiction}\n        - {id: vn-health-oscc-national}\n"
        "      priority: P2",
    )
    (new / "rules.yaml").write_text(rules, encoding="utf-8")
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps(CHILD_ABROAD) + "\n" + json.dumps(ADULT_HUE) + "\n", encoding="utf-8")
    assert main(["rules", "diff", "--old", str(CONFIG), "--new", str(new), str(cases), "--fail-on-change"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "R-2: + ['vn-health-oscc-national']; priority P3 → P2"
    assert out[-1].startswith("1 of 2 case(s) change")
    # the same rules: nothing changes
    assert main(["rules", "diff", "--old", str(CONFIG), "--new", str(CONFIG / "rules.yaml"), str(cases)]) == 0
    assert capsys.readouterr().out.startswith("0 of 2 case(s) change")
