"""`referral-bus schemas check`: an incompatible change fails with schema, field and rule named."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from referral_bus.compatibility import incompatibilities
from referral_bus.contracts import SCHEMA_DIR, load_contracts
from referral_cli.commands.schemas import check_all
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


def own(errors: list[str], name: str = "CaseReport") -> list[str]:
    """The errors about `name` itself (a change to CaseReport also breaks the records embedding it)."""
    return [e for e in errors if e.startswith(name) or e.startswith(f"ERROR {name}")]


def type_changed(path: str, old: str, new: str) -> list[str]:
    """What the check says, for each kept CaseReport version, when the type of `path` changes."""
    return [
        f"CaseReport v3 cannot read v{n}: CaseReport.{path}: type changed from {old} to {new} "
        "(rule: types may only change by Avro promotion)"
        for n in (1, 2)
    ]


def keep_current(target: Path, name: str) -> None:
    """Keep the current `name` as its next version, as the README's procedure says."""
    current = load_contracts(target).current[name]
    (target / "versions" / f"{name}.v{current.version}.avsc").write_text(json.dumps(current.expanded))


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
    errors = own([line for line in out.splitlines() if line.startswith("ERROR")])
    assert errors == [
        f"ERROR CaseReport v3 cannot read v{n}: CaseReport.risk_score: field added without a default "
        "(rule: new fields need a default)"
        for n in (1, 2)
    ]


def test_new_field_with_default_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def add(doc: dict[str, Any]) -> None:
        doc["fields"].append({"name": "risk_score", "type": ["null", "int"], "default": None, "doc": "new"})

    target = contracts_copy(tmp_path, lambda doc: None)
    for name in ("CaseReport", "Case", "Referral"):
        keep_current(target, name)
    path = target / "CaseReport.avsc"
    doc = json.loads(path.read_text())
    add(doc)
    path.write_text(json.dumps(doc))
    code, out = run_check(target, capsys)
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
    assert own(report.errors) == type_changed("reported_at", "long", "string")


def test_enum_symbol_removed_without_default_is_caught(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        enum = field(doc, "severity")["type"]
        enum["symbols"].remove("LOW")
        del enum["default"]

    errors = own(check_all(load_contracts(contracts_copy(tmp_path, change))).errors)
    assert [e.split(":")[0] for e in errors] == ["CaseReport v3 cannot read v1", "CaseReport v3 cannot read v2"]
    assert all("CaseReport.severity: enum symbols ['LOW'] removed" in e and "rule:" in e for e in errors), errors


def test_union_narrowed_is_caught(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        f = field(doc, "platform")
        f["type"], f["default"] = "string", ""

    report = check_all(load_contracts(contracts_copy(tmp_path, change)))
    assert own(report.errors) == type_changed("platform", "null", "string")


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


def test_change_to_embedded_record_that_breaks_only_its_embedders_is_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case and Referral kept with CaseReport v3 inside, then CaseReport v3 changed in place without keeping it.

    victim.sex is new in CaseReport v3, so the change is invisible to CaseReport's own history (v1, v2).
    """
    target = contracts_copy(tmp_path, lambda doc: None)
    kept = load_contracts(target).current["Referral"].version  # Referral has versions of its own (v4: link)
    for name in ("Case", "Referral"):
        keep_current(target, name)
    path = target / "CaseReport.avsc"
    doc = json.loads(path.read_text())
    sex = next(f for f in field(doc, "victim")["type"]["fields"] if f["name"] == "sex")
    sex["type"] = ["null", "long"]
    path.write_text(json.dumps(doc))

    code, out = run_check(target, capsys)
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert own(errors) == []  # CaseReport's own check alone would have passed
    assert any(e.startswith("ERROR Case v4 cannot read v3: Case.report.victim.sex") for e in errors), out
    broken = f"ERROR Referral v{kept + 1} cannot read v{kept}: Referral.case.report.victim.sex"
    assert any(e.startswith(broken) for e in errors), out
    assert any(e.startswith("ERROR Case v3 embeds a CaseReport") and "versions/CaseReport.v<N>" in e for e in errors)


def test_embedded_record_changed_without_a_version_of_its_embedders_is_caught(tmp_path: Path) -> None:
    """CaseReport kept as v3 and changed compatibly, but no Case or Referral version embeds the kept v3."""
    target = contracts_copy(tmp_path, lambda doc: None)
    keep_current(target, "CaseReport")
    path = target / "CaseReport.avsc"
    doc = json.loads(path.read_text())
    doc["fields"].append({"name": "risk_score", "type": ["null", "int"], "default": None, "doc": "new"})
    path.write_text(json.dumps(doc))
    errors = check_all(load_contracts(target)).errors
    assert own(errors) == []
    # Case only: Referral v3 (kept since Referral v4 added `link`) does embed CaseReport v3 as it was
    for user in ("Case",):
        assert any(
            e.startswith(f"{user}: no current or kept version embeds CaseReport v3") and f"versions/{user}.v<N>" in e
            for e in errors
        ), errors


def test_kept_embedding_versions_are_readable_by_the_codec() -> None:
    """Case and Referral events written while CaseReport v1 or v2 (or Case v1 or v2) was current still decode."""
    reg = load_contracts(SCHEMA_DIR)
    known = reg.by_fingerprint()
    assert {s.version for s in reg.history["Case"]} == {1, 2}
    assert {s.version for s in reg.history["Referral"]} == {1, 2, 3}
    assert all(s.fingerprint in known for s in [*reg.history["Case"], *reg.history["Referral"]])


def test_embedded_record_defining_a_name_its_embedder_uses_is_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CaseReport gains a type named LinkedReport, which Case defines too: Case no longer parses."""

    def add(doc: dict[str, Any]) -> None:
        linked = {"type": "record", "name": "LinkedReport", "doc": "x", "fields": [{"name": "a", "type": "string"}]}
        doc["fields"].append({"name": "extra", "type": ["null", linked], "default": None, "doc": "new"})

    code = cli(["schemas", "check", "--dir", str(contracts_copy(tmp_path, add))])
    err = capsys.readouterr().err
    assert code == 1
    assert "Case v3 is not a valid Avro schema: redefined named type: org.referralbus.v1.LinkedReport" in err


def test_every_released_version_is_still_known() -> None:
    """The writer schemas main released (CaseReport v1, v2; Case and Referral with CaseReport v1, then v2 inside)."""
    known = {s.fingerprint.hex(): (s.name, s.version) for s in load_contracts(SCHEMA_DIR).by_fingerprint().values()}
    assert known["59faa2dd75629cfa"] == ("CaseReport", 1)
    assert known["1d1005ad5ef67957"] == ("CaseReport", 2)
    assert known["d0a766e646bb8c9f"] == ("Case", 1)
    assert known["3d3cb20f31e60c95"] == ("Case", 2)
    assert known["cea0026c44f533af"] == ("Referral", 1)
    assert known["dff1177d35fd13ad"] == ("Referral", 2)
    assert known["5e400f20a4ff41ca"] == ("Referral", 3)  # Case v3 inside, before `link` (v4)
    assert known["719c3f6a9041ac96"] == ("RoutingDecision", 2)  # before linked_report (v3)
