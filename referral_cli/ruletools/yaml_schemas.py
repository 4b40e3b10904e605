"""JSON Schemas of the integrators' YAML files, generated from the same models that validate them.

Published in config/schema/ for editors (`# yaml-language-server: $schema=...`); a test fails
when the committed files drift from what the models generate (`referral-bus rules schema --write`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from referral_cli.ruletools.fixture_runner import FixtureFile
from referral_domain.directory import DirectoryFile
from referral_domain.lifecycle import LifecycleFile
from referral_domain.safeguards import SafeguardsFile
from services.routing.model import RulesDocument

JURISDICTION_PATTERN = r"^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$"
_FILES: dict[str, type[BaseModel]] = {
    "recipients.schema.json": DirectoryFile,
    "rules.schema.json": RulesDocument,
    "fixtures.schema.json": FixtureFile,
    "safeguards.schema.json": SafeguardsFile,
    "lifecycle.schema.json": LifecycleFile,
}


def _codes(node: Any) -> None:
    """Constrain every jurisdiction-code list to the ISO 3166 shape (the full code list is checked on load)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"jurisdictions", "victim_jurisdiction"} and isinstance(value, dict):  # rules and safeguards
                for branch in [value, *value.get("anyOf", [])]:
                    if branch.get("type") == "array" and branch.get("items", {}).get("type") == "string":
                        branch["items"]["pattern"] = JURISDICTION_PATTERN
            _codes(value)
    elif isinstance(node, list):
        for item in node:
            _codes(item)


def schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema (draft 2020-12)."""
    out = {}
    for name, model in _FILES.items():
        schema = model.model_json_schema()
        _codes(schema)
        out[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://referral-bus.example.invalid/schema/{name}",
            **schema,
        }
    return out


def render(schema: dict[str, Any]) -> str:
    """Stable text of a schema file."""
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write(folder: Path) -> list[Path]:
    """Write every schema into `folder`; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = folder / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
