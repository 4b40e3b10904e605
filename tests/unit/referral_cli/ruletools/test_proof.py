"""`referral-bus rules check` proves rules and directory against the safeguards: each kind of violation is
refused with its smallest counter-example, and the shipped files hold over the whole case space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from referral_bus.settings import REPO_ROOT
from referral_cli.main import main
from referral_cli.ruletools.proof import check_case, prove
from referral_domain.safeguards import load_safeguards
from services.routing.rules import RuleSet, load_rules
from tests.support.safeguards import DIRECTORY, RULES, SAFEGUARDS, concrete_cases, files, recipient, with_changes


def check(capsys: pytest.CaptureFixture[str], d: Path, r: Path) -> tuple[int, str]:
    code = main(["rules", "check", "--directory", str(d), "--rules", str(r), "--safeguards", str(SAFEGUARDS)])
    return code, capsys.readouterr().out


def test_the_small_sample_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, *files(tmp_path))
    assert code == 0, out
    assert "safeguards hold" in out


def test_escalation_to_a_forbidden_recipient_is_refused_with_the_counter_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: imminent danger escalates to the police duty desk, whatever the survivor said."""
    rules = RULES.replace("ack_sla: 15m}", "ack_sla: 15m, escalation_target: police-duty}")
    code, out = check(capsys, *files(tmp_path, rules))
    assert code == 1, out
    line = next(x for x in out.splitlines() if "broken via escalation" in x)
    assert "safeguard adult-without-consent-no-police" in line and "-> police-duty" in line
    example = out.splitlines()[out.splitlines().index(line) + 1]
    assert "smallest counter-example:" in example
    assert "severity=IMMINENT_DANGER" in example and "victim_minor=false" in example
    assert "consent=NOT_ASKED" in example or "consent=REFUSED" in example
    # smallest: no foreign country, at most one consented service, the national jurisdiction
    assert "offender_country=- hosting_country=-" in example and "victim_jurisdiction=VN " in example
    assert "refused" in out.splitlines()[-1]


Change = tuple[str, list[dict[str, Any]]]


CLEAR = {"type": "webhook", "url": "http://cp.example.invalid/r"}
HOTLINE_NO_TLS = {"type": "email", "to": ["a@b.invalid"], "smtp_host": "mail.example.invalid", "tls": "none"}
VIOLATIONS: dict[str, tuple[Change, str, str]] = {
    # a rule that forgets the survivor's refusal
    "never-rules": (
        (RULES.replace("[police, international_partner]", "[international_partner]"), DIRECTORY),
        "adult-without-consent-no-police",
        "rules",
    ),
    # an adult's unmatched case to the child hotline (the old default)
    "default-recipient": (
        (RULES.replace("child-hotline\n", "child-hotline\ndefault_recipient_adult: child-hotline\n", 1), DIRECTORY),
        "adult-not-to-childrens-services",
        "default",
    ),
    # mandatory reporting dropped for children
    "always": (
        (RULES.replace("[{kind: police}, {kind: child_protection}]", "[{kind: police}]"), DIRECTORY),
        "child-police-and-child-protection",
        "rules",
    ),
    # a foreign partner with the full profile
    "profile": (
        (
            RULES.replace(
                "[{kind: police}]\n", "[{kind: police}, {kind: international_partner, at: offender_country}]\n"
            ),
            with_changes(DIRECTORY, "partner-th", data_profile="full"),
        ),
        "foreign-partner-convention-minimal",
        "rules",
    ),
    # personal data over plain http to a remote host
    "transport-http": (
        (RULES, with_changes(DIRECTORY, "cp-national", channel=CLEAR)),
        "personal-data-encrypted-in-transit",
        "rules",
    ),
    # e-mail without TLS (the child hotline is the default of an unmatched child abroad)
    "transport-email": (
        (RULES, with_changes(DIRECTORY, "child-hotline", channel=HOTLINE_NO_TLS)),
        "personal-data-encrypted-in-transit",
        "default",
    ),
    # a recipient's own escalation chain, followed to its end: health -> child protection -> the duty desk
    "escalation-chain": (
        (
            RULES,
            with_changes(
                with_changes(DIRECTORY, "health-national", escalation_target="cp-national"),
                "cp-national",
                escalation_target="police-duty",
            ),
        ),
        "adult-without-consent-no-police",
        "escalation",
    ),
    # a province without child protection falls back to the national one, whose transport is in clear
    "fallback": (
        (
            RULES,
            [*with_changes(DIRECTORY, "cp-national", channel=CLEAR), recipient("cp-hn", "child_protection", ["VN-HN"])],
        ),
        "personal-data-encrypted-in-transit",
        "fallback",
    ),
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_kind_of_violation_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    (rules, directory), safeguard, path = VIOLATIONS[name]
    code, out = check(capsys, *files(tmp_path, rules, directory))
    assert code == 1, out
    assert any(line.startswith(f"safeguard {safeguard} broken via {path}") for line in out.splitlines()), out
    assert "smallest counter-example:" in out


def test_escalation_chains_are_followed_to_their_end(tmp_path: Path) -> None:
    """health -> child protection -> duty desk: the last hop is checked too, for a case that reaches the first."""
    from services.routing.conditions import CaseView

    chained = with_changes(
        with_changes(DIRECTORY, "health-national", escalation_target="cp-national"),
        "cp-national",
        escalation_target="police-duty",
    )
    ruleset = load_rules(*files(tmp_path, RULES, chained))
    case = CaseView("c", "r", "OTHER", "HIGH", False, "ADULT", "REFUSED", ("health",), "VN-HN", None, None, None, False)
    paths = {(v.safeguard_id, v.path) for v in check_case(ruleset, load_safeguards(SAFEGUARDS), case)}
    assert paths == {
        ("adult-without-consent-only-consented-services", "escalation health-national -> cp-national"),
        ("adult-without-consent-no-police", "escalation health-national -> cp-national -> police-duty"),
    }


def test_loopback_in_clear_only_with_the_development_setting(tmp_path: Path) -> None:
    directory = [
        x if x["id"] != "cp-national" else {**x, "channel": {"type": "webhook", "url": "http://127.0.0.1:8787/cp"}}
        for x in DIRECTORY
    ]
    ruleset = load_rules(*files(tmp_path, RULES, directory))
    assert prove(ruleset, load_safeguards(SAFEGUARDS)).violations
    assert not prove(ruleset, load_safeguards(SAFEGUARDS, dev_insecure_transport=True)).violations


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(REPO_ROOT / "config" / "recipients.yaml", REPO_ROOT / "config" / "rules.yaml")


def test_shipped_rules_hold_over_the_whole_case_space(shipped: RuleSet) -> None:
    proof = prove(shipped, load_safeguards(SAFEGUARDS, dev_insecure_transport=True))
    assert proof.violations == [], [v.describe() for v in proof.violations]
    assert proof.cases > 100_000 and proof.covered > proof.cases


def test_every_concrete_case_agrees_with_the_proof(shipped: RuleSet) -> None:
    """Hypothesis draws concrete cases from the whole space: none breaks a safeguard on the shipped files,
    and on rules with the issue's escalation bug every broken case is one the proof reports."""
    from hypothesis import given, settings

    safeguards = load_safeguards(SAFEGUARDS, dev_insecure_transport=True)
    broken_path = REPO_ROOT / "config" / "rules.yaml"
    sla = "      priority: P1\n      ack_sla: 15m\n"
    text = broken_path.read_text(encoding="utf-8").replace(sla, sla + "      escalation_target: vn-police-duty-desk\n")
    assert "escalation_target: vn-police-duty-desk\n\n  - id: imminent-danger-child" in text
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(text, encoding="utf-8")
        broken = load_rules(REPO_ROOT / "config" / "recipients.yaml", rules)
        found = {(v.safeguard_id, v.path.split(" ", 1)[0]) for v in prove(broken, safeguards).violations}
        assert ("adult-without-consent-no-police", "escalation") in found

        @settings(max_examples=400, deadline=None, derandomize=True)
        @given(concrete_cases(shipped))
        def holds(case: Any) -> None:
            assert check_case(shipped, safeguards, case) == []
            for v in check_case(broken, safeguards, case):
                assert (v.safeguard_id, v.path.split(" ", 1)[0]) in found, v.describe()

        holds()
