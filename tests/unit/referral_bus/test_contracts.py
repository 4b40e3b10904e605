"""The contracts themselves: documented, enums with defaults, every person-identifying field annotated."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from referral_bus.contracts import RECORDS, Contracts, contracts, pii_paths

# Field names that identify (or may identify) a person: names, contacts, narrative text, account handles,
# IP addresses. A field matching one of these must carry "pii": true.
PII_NAME = re.compile(
    r"(^|_)(name|contact|narrative|handle|account_handle|ip|ip_address|email|phone|address|dob|birth)($|_)"
)
# Names that match the pattern but do not identify a person.
NOT_PERSONAL = {"source_system"}
# Records whose names are type names, not a person's: `name` of a header/hash would be fine; listed explicitly.
NON_PERSON_RECORDS = {"Header"}


def fields(node: Any, path: str = "") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(record name, dotted path, field) for every field of every record inside `node`."""
    if isinstance(node, list):
        for n in node:
            yield from fields(n, path)
    elif isinstance(node, dict):
        if node.get("type") == "record":
            for f in node["fields"]:
                child = f"{path}.{f['name']}" if path else f["name"]
                yield node["name"], child, f
                yield from fields(f["type"], child)
        elif node.get("type") == "array":
            yield from fields(node["items"], path)
        elif node.get("type") == "map":
            yield from fields(node["values"], path)


def named_types(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for n in node:
            yield from named_types(n)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed"):
            yield node
        for key in ("type", "items", "values"):
            if key in node:
                yield from named_types(node[key])
        for f in node.get("fields", []):
            yield from named_types(f)


def all_versions(reg: Contracts) -> list[tuple[str, Any]]:
    return [(f"{n} v{s.version}", s.expanded) for n in RECORDS for s in [*reg.history[n], reg.current[n]]]


def test_every_record_exists() -> None:
    assert set(contracts().current) == set(RECORDS)


@pytest.mark.parametrize("name", RECORDS)
def test_every_field_and_type_is_documented(name: str) -> None:
    schema = contracts().current[name].expanded
    undocumented = [p for _, p, f in fields(schema) if not str(f.get("doc", "")).strip()]
    assert not undocumented, f"{name}: fields without doc: {undocumented}"
    for t in named_types(schema):
        assert str(t.get("doc", "")).strip(), f"{name}: type {t['name']} has no doc"


@pytest.mark.parametrize("name", RECORDS)
def test_every_enum_has_a_default_among_its_symbols(name: str) -> None:
    for t in named_types(contracts().current[name].expanded):
        if t["type"] == "enum":
            assert t.get("default") in t["symbols"], f"{name}: enum {t['name']} needs a default"


@pytest.mark.parametrize(("label", "schema"), all_versions(contracts()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_person_identifying_field_is_annotated_pii(label: str, schema: Any) -> None:
    missing = [
        p
        for record, p, f in fields(schema)
        if PII_NAME.search(f["name"])
        and f["name"] not in NOT_PERSONAL
        and record not in NON_PERSON_RECORDS
        and f.get("pii") is not True
    ]
    assert not missing, f'{label}: person-identifying fields without "pii": true: {missing}'


def test_the_walk_would_catch_a_missing_annotation() -> None:
    schema = {
        "type": "record",
        "name": "X",
        "fields": [
            {"name": "inner", "type": {"type": "record", "name": "Y", "fields": [{"name": "phone", "type": "string"}]}}
        ],
    }
    hits = [p for _, p, f in fields(schema) if PII_NAME.search(f["name"]) and not f.get("pii")]
    assert hits == ["inner.phone"]


def test_pii_paths_of_the_report_and_of_every_record_embedding_it() -> None:
    expected = {
        "victim.name",
        "victim.contact",
        "victim.account_handle",
        "offender.account_handle",
        "offender.ip_address",
        "offender.name",
        "reporter_contact",
        "narrative",
        "source_system",
        "escalation_reason",
        "platform",
        "content_urls",
    }
    reg = contracts()
    assert set(pii_paths(reg.current["CaseReport"].expanded)) == expected
    assert set(pii_paths(reg.current["Case"].expanded)) == {f"report.{p}" for p in expected}
    assert set(pii_paths(reg.current["Referral"].expanded)) == {f"case.report.{p}" for p in expected}


def test_case_report_carries_what_the_issue_lists() -> None:
    report = contracts().current["CaseReport"].expanded
    names = {p for _, p, _ in fields(report)}
    for required in (
        "report_id",
        "agency_id",
        "source_system",
        "reported_at",
        "received_at",
        "category",
        "severity",
        "escalation_reason",
        "victim.age_band",
        "victim.is_minor",
        "victim.jurisdiction",
        "offender.country",
        "hosting_country",
        "platform",
        "content_hashes.algorithm",
        "content_hashes.value",
        "content_urls",
        "preservation_requested",
        "consent",
        "narrative",
    ):
        assert required in names, required
    enums = {t["name"]: t["symbols"] for t in named_types(report) if t["type"] == "enum"}
    assert "IMMINENT_DANGER" in enums["Severity"]
    assert set(enums["Consent"]) >= {"GIVEN", "REFUSED", "NOT_ASKED", "NOT_REQUIRED_CHILD"}
    assert len(enums["Category"]) == 11


def test_fingerprint_registry_is_consistent() -> None:
    reg = contracts()
    by_fp = reg.by_fingerprint()
    total = sum(len(v) + 1 for v in reg.history.values())
    assert len(by_fp) == total, "two schema versions share a fingerprint"
    for name, current in reg.current.items():
        assert by_fp[current.fingerprint] is current
        assert [s.version for s in reg.history[name]] == list(range(1, current.version))
        for old in reg.history[name]:
            assert by_fp[old.fingerprint] is old
            assert old.name == name
