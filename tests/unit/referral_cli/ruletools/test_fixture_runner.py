"""The shipped fixture cases pass against the shipped rules, cover every rule, and the runner reports failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus.errors import RulesError
from referral_bus.settings import REPO_ROOT
from referral_cli.main import main
from referral_cli.ruletools.fixture_runner import load_fixtures, run
from services.routing.rules import load_rules

CONFIG = REPO_ROOT / "config"
FIXTURES = sorted((CONFIG / "fixtures").glob("*.yaml"))


@pytest.fixture(scope="module")
def ruleset():
    return load_rules(CONFIG / "recipients.yaml", CONFIG / "rules.yaml")


def _ids(path: Path) -> list[str]:
    return [lf.fixture.name for lf in load_fixtures([path])]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_shipped_fixture_file_passes(ruleset, path: Path) -> None:
    outcomes, _ = run(ruleset, load_fixtures([path]))
    failures = {o.located.fixture.name: o.failures for o in outcomes if not o.passed}
    assert not failures


def test_at_least_30_cases_covering_every_rule(ruleset) -> None:
    outcomes, untested = run(ruleset, load_fixtures([CONFIG / "fixtures"]))
    assert len(outcomes) >= 30
    assert untested == []
    # each safeguard is exercised in both directions
    names = {o.located.fixture.name for o in outcomes}
    assert {"child-consent-refused-still-police", "adult-refused-named-police-still-excluded"} <= names
    assert any(o.decision.unmatched for o in outcomes)
    assert any(c.fallback for o in outcomes for c in o.decision.recipients)


def test_cli_prints_pass_per_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", str(CONFIG / "fixtures"), "--require-coverage"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("PASS ") for line in out) >= 30
    assert out[-1].endswith(f"rules version {load_rules(CONFIG / 'recipients.yaml', CONFIG / 'rules.yaml').version}")
    assert " 0 failed" in out[-1]


def test_cli_reports_a_failing_case_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "wrong.yaml"
    f.write_text(
        "cases:\n"
        "  - name: child-without-police\n"
        "    case:\n"
        "      category: CSAM\n"
        "      victim: {is_minor: true, jurisdiction: VN-HN}\n"
        "    expect:\n"
        "      recipients: [vn-child-protection-ha-noi]\n"
        "      priority: P4\n",
        encoding="utf-8",
    )
    assert main(["rules", "test", str(f)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL child-without-police  ({f}:2)" in out
    assert "unexpected ['vn-child-hotline-111', 'vn-police-cybercrime', 'vn-police-ha-noi']" in out
    assert "priority: expected P4, got P2" in out
    assert "0 passed, 1 failed" in out


def test_fixture_file_errors_are_named_with_lines(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "cases:\n"
        "  - name: a\n"
        "    case:\n"
        "      category: CSAM\n"
        "      victim: {is_minor: true, jurisdiction: VN-ZZ}\n"
        "    expect: {recipients: [], priority: P9}\n"
        "  - name: a\n"
        "    case: {victim: {is_minor: true, jurisdiction: VN-HN}, severty: HIGH}\n"
        "    expect: {recipients: [], priority: P1}\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesError) as err:
        load_fixtures([f])
    problems = err.value.problems
    assert any(p.startswith(f"{f}:5: case a: case.victim.jurisdiction: ") and "VN-ZZ" in p for p in problems)
    assert any(p.startswith(f"{f}:6: case a: expect.priority: ") for p in problems)
    assert any(p.startswith(f"{f}:8: case a: case.severty: unknown key") for p in problems), problems
