"""The published JSON Schemas match the models and the shipped YAML files validate against them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from referral_bus.settings import REPO_ROOT
from referral_cli.ruletools.yaml_schemas import render, schemas

CONFIG = REPO_ROOT / "config"
SCHEMAS = CONFIG / "schema"
FILES = [
    ("recipients.schema.json", CONFIG / "recipients.yaml"),
    ("rules.schema.json", CONFIG / "rules.yaml"),
    *[("fixtures.schema.json", p) for p in sorted((CONFIG / "fixtures").glob("*.yaml"))],
]


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schemas_are_up_to_date() -> None:
    for name, schema in schemas().items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == render(schema), (
            f"config/schema/{name} is stale: run `referral-bus rules schema --write config/schema`"
        )


@pytest.mark.parametrize(("schema", "path"), FILES, ids=[p.name for _, p in FILES])
def test_shipped_file_validates_and_points_at_its_schema(schema: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert (
        text.splitlines()[0]
        == f"# yaml-language-server: $schema={'../' if 'fixtures' in path.parts else ''}schema/{schema}"
    )
    errors = list(_validator(schema).iter_errors(yaml.safe_load(text)))
    assert not errors, [e.message for e in errors]


def test_schema_flags_typos_an_editor_would_show() -> None:
    rules = yaml.safe_load((CONFIG / "rules.yaml").read_text(encoding="utf-8"))
    rules["rules"][0]["when"]["categroy"] = ["CSAM"]
    rules["rules"][1]["when"]["category"] = ["CSAM", "CRITICAL"]
    rules["rules"][2]["then"]["ack_sla"] = "4 hours"
    messages = [e.message for e in _validator("rules.schema.json").iter_errors(rules)]
    assert any("categroy" in m for m in messages), messages
    assert any("CRITICAL" in m for m in messages), messages
    assert any("4 hours" in m for m in messages), messages
    directory = yaml.safe_load((CONFIG / "recipients.yaml").read_text(encoding="utf-8"))
    directory["recipients"][0]["kind"] = "polise"
    directory["recipients"][1]["jurisdictions"] = ["Viet Nam"]
    messages = [e.message for e in _validator("recipients.schema.json").iter_errors(directory)]
    assert len(messages) >= 2, messages
