"""`referral-bus schemas check`: an incompatible change fails with schema, field and rule named."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from referral_bus.compatibility import check_all, incompatibilities
from referral_bus.contracts import SCHEMA_DIR, load_contracts
from referral_cli.main import main as cli


def contracts_copy(tmp_path: Path, edit: Callable[[dict[str, Any]], None], name: str = "CaseReport") -> Path:
    """A copy of schemas/avro with `edit` applied to the current `name` schema."""
    target = tmp_path / "avro"
    shutil.copytree(SCHEMA_DIR, target)
    path = target / f"{name}.avsc"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc, indent=2))
    return target


def field(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in doc["fields"] if f["name"] == name)


def run_check(directory: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli(["schemas", "check", "--dir", str(directory)])
    return code, capsys.readouterr().out


def test_repository_contracts_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_check(SCHEMA_DIR, capsys)
    assert code == 0, out
    assert "CaseReport       v3" in out and "reads 2 earlier version(s)" in out
    assert "schemas: OK" in out


def test_new_field_without_default_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def add(doc: dict[str, Any]) -> None:
        doc["fields"].append({"name": "risk_score", "type": "int", "doc": "new"})

    code, out = run_check(contracts_copy(tmp_path, add), capsys)
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    # every earlier version, and the records that embed CaseReport (Case, Referral), say the same
    assert (
        "ERROR CaseReport v3 cannot read v1: CaseReport.risk_score: field added without a default "
        "(rule: new fields need a default)"
    ) in errors
    assert all("risk_score: field added without a default" in e for e in errors), errors


def test_new_field_with_default_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def add(doc: dict[str, Any]) -> None:
        doc["fields"].append({"name": "risk_score", "type": ["null", "int"], "default": None, "doc": "new"})

    code, out = run_check(contracts_copy(tmp_path, add), capsys)
    assert code == 0, out


def test_nested_field_without_default_names_the_path(tmp_path: Path) -> None:
    def add(doc: dict[str, Any]) -> None:
        field(doc, "victim")["type"]["fields"].append({"name": "gender", "type": "string", "doc": "new"})

    report = check_all(load_contracts(contracts_copy(tmp_path, add)))
    assert any("CaseReport.victim.gender: field added without a default" in e for e in report.errors), report.errors


def test_type_change_is_caught(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        field(doc, "reported_at")["type"] = "string"

    report = check_all(load_contracts(contracts_copy(tmp_path, change)))
    assert (
        "CaseReport v3 cannot read v1: CaseReport.reported_at: type changed from long to string "
        "(rule: types may only change by Avro promotion)"
    ) in report.errors
    assert all("reported_at: type changed from long to string" in e for e in report.errors), report.errors


def test_enum_symbol_removed_without_default_is_caught(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        enum = field(doc, "severity")["type"]
        enum["symbols"].remove("LOW")
        del enum["default"]

    report = check_all(load_contracts(contracts_copy(tmp_path, change)))
    assert report.errors
    assert "CaseReport.severity: enum symbols ['LOW'] removed" in report.errors[0]
    assert all("severity: enum symbols ['LOW'] removed" in e for e in report.errors), report.errors
    assert all("rule:" in e for e in report.errors)


def test_union_narrowed_is_caught(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        f = field(doc, "platform")
        f["type"], f["default"] = "string", ""

    report = check_all(load_contracts(contracts_copy(tmp_path, change)))
    assert (
        "CaseReport v3 cannot read v1: CaseReport.platform: type changed from null to string "
        "(rule: types may only change by Avro promotion)"
    ) in report.errors
    assert all("platform: type changed from null to string" in e for e in report.errors), report.errors


def test_renamed_record_is_caught(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        field(doc, "victim")["type"]["name"] = "Survivor"

    report = check_all(load_contracts(contracts_copy(tmp_path, change)))
    assert any("CaseReport.victim: record renamed from Victim to Survivor" in e for e in report.errors)


def test_promotion_and_removed_field_are_allowed() -> None:
    writer = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}]}
    reader = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}
    assert incompatibilities(writer, reader, "R") == []


def test_duplicate_fingerprint_is_caught(tmp_path: Path) -> None:
    target = contracts_copy(tmp_path, lambda doc: None)
    # a kept version identical to the current schema: two versions with one fingerprint
    current = load_contracts(target).current["CaseReport"].expanded
    (target / "versions" / "CaseReport.v2.avsc").write_text(json.dumps(current))
    report = check_all(load_contracts(target))
    assert any("fingerprint" in e and "CaseReport v3" in e for e in report.errors), report.errors


def test_version_gap_is_caught(tmp_path: Path) -> None:
    target = contracts_copy(tmp_path, lambda doc: None)
    (target / "versions" / "CaseReport.v1.avsc").rename(target / "versions" / "CaseReport.v3.avsc")
    report = check_all(load_contracts(target))
    assert any("no gap" in e and e.startswith("CaseReport") for e in report.errors), report.errors
