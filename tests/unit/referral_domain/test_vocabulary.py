"""The Python vocabulary and the CaseReport Avro contract name the same symbols, in the same order."""

from __future__ import annotations

import json
from typing import Any

from referral_bus.settings import REPO_ROOT
from referral_domain.vocabulary import ENUMS, MINOR_BANDS


def _enums(node: Any, found: dict[str, list[str]]) -> dict[str, list[str]]:
    if isinstance(node, dict):
        if node.get("type") == "enum":
            found[node["name"]] = node["symbols"]
        for value in node.values():
            _enums(value, found)
    elif isinstance(node, list):
        for value in node:
            _enums(value, found)
    return found


def test_every_python_enum_matches_the_contract() -> None:
    schema = json.loads((REPO_ROOT / "schemas" / "avro" / "CaseReport.avsc").read_text())
    contract = _enums(schema, {})
    for name, symbols in ENUMS.items():
        assert name in contract, f"CaseReport has no enum {name}"
        assert list(symbols) == contract[name], f"referral_domain/vocabulary.py {name} differs from CaseReport.avsc"


def test_minor_bands_are_age_bands() -> None:
    assert set(MINOR_BANDS) < set(ENUMS["AgeBand"])
