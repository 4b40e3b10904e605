"""`referral-bus rules check`: every error of a broken rules file is listed with its file, line, id and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus.errors import RulesError
from referral_bus.settings import REPO_ROOT
from referral_cli.main import main
from services.routing.rules import load_rules

DIRECTORY = REPO_ROOT / "config" / "recipients.yaml"

BROKEN = """\
version: 1
default_recipient: vn-child-hotline-111
rules:
  - id: typo-condition
    description: unknown condition key
    when:
      categroy: [CSAM]
    then:
      recipients: [{kind: police}]
  - id: bad-enum
    description: bad enum value
    when:
      severity: [CRITICAL]
    then:
      priority: P1
  - id: unknown-recipient
    description: recipient id not in the directory
    then:
      recipients: [{id: vn-police-atlantis}]
  - id: bad-duration
    description: bad duration
    then:
      ack_sla: 4 hours
  - id: bad-enum
    description: duplicate id
    then:
      priority: P2
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["rules", "check", *args])
    return code, capsys.readouterr().out.splitlines()


def test_shipped_files_pass(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRAL_BUS_DEV_INSECURE_TRANSPORT", "true")  # the sample directory's local receivers
    code, out = _run(capsys)
    assert code == 0
    assert out[-1].startswith("rules OK: 81 recipients")


def test_every_error_is_listed_with_line_id_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _write(tmp_path, BROKEN)
    code, out = _run(capsys, "--directory", str(DIRECTORY), "--rules", str(rules))
    assert code == 1
    errors = out[:-1]
    assert out[-1] == f"{len(errors)} error(s)"
    expected = [
        (7, "rule typo-condition", "when.categroy", "unknown key (not allowed here; a typo?)"),
        (13, "rule bad-enum", "when.severity.0", "Input should be 'UNKNOWN'"),
        (19, "rule unknown-recipient", "then.recipients.0.id", "no recipient 'vn-police-atlantis'"),
        (23, "rule bad-duration", "then.ack_sla", "must be seconds or a number followed by s, m, h or d"),
        (24, "rule bad-enum", "id", "duplicate rule id (first on line 10)"),
    ]
    for line, label, field, problem in expected:
        prefix = f"{rules}:{line}: {label}: {field}: "
        assert any(e.startswith(prefix) and problem in e for e in errors), (prefix, problem, errors)
    assert len(errors) == len(expected), errors


def test_yaml_syntax_error_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _write(tmp_path, "default_recipient: x\nrules:\n  - id: a\n    when: {category: [CSAM\n  - id: b\n")
    code, out = _run(capsys, "--rules", str(rules))
    assert code == 1
    assert len(out) == 2 and out[0].startswith(f"{rules}:") and "invalid YAML" in out[0], out
    line = int(out[0].split(":")[1])
    assert 4 <= line <= 5


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    rules = _write(tmp_path, "default_recipient: vn-child-hotline-111\ndefault_recipient: x\nrules: []\n")
    with pytest.raises(RulesError) as err:
        load_rules(DIRECTORY, rules)
    assert f"{rules}:2: invalid YAML: duplicate key 'default_recipient' (first on line 1)" in err.value.problems


def test_directory_and_rules_errors_are_reported_together(tmp_path: Path) -> None:
    directory = tmp_path / "recipients.yaml"
    directory.write_text(
        "recipients:\n"
        "  - id: a-police\n"
        "    name: SAMPLE\n"
        "    kind: polise\n"
        "    jurisdictions: [VN-HN]\n"
        "    channel: {type: kafka}\n"
        "  - id: b-hotline\n"
        "    name: SAMPLE\n"
        "    kind: hotline\n"
        "    jurisdictions: [VN-XX]\n"
        "    channel: {type: kafka}\n",
        encoding="utf-8",
    )
    rules = _write(tmp_path, "default_recipient: nobody\nrules:\n  - id: x\n    description: d\n    then: {}\n")
    with pytest.raises(RulesError) as err:
        load_rules(directory, rules)
    problems = err.value.problems
    assert any(p.startswith(f"{directory}:4: recipient a-police: kind: ") for p in problems), problems
    assert any(p.startswith(f"{directory}:10: recipient b-hotline: ") and "VN-XX" in p for p in problems), problems
    # the default recipient cannot be checked against a directory that did not load: no false error about it
    assert all(str(rules) not in p for p in problems), problems


def test_default_recipient_must_exist(tmp_path: Path) -> None:
    rules = _write(tmp_path, "default_recipient: nobody\nrules:\n  - id: x\n    description: d\n    then: {}\n")
    with pytest.raises(RulesError) as err:
        load_rules(DIRECTORY, rules)
    assert err.value.problems == [f"{rules}:1: rules file: default_recipient: no recipient 'nobody' in the directory"]


def test_selector_needs_exactly_one_target(tmp_path: Path) -> None:
    rules = _write(
        tmp_path,
        "default_recipient: vn-child-hotline-111\nrules:\n  - id: x\n    description: d\n"
        "    then:\n      recipients:\n        - {id: vn-police-cybercrime, kind: police}\n",
    )
    with pytest.raises(RulesError) as err:
        load_rules(DIRECTORY, rules)
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith(f"{rules}:7: rule x: then.recipients.0: ")
    assert "exactly one of id, kind or consented_kinds" in err.value.problems[0]
