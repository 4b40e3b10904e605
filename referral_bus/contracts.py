"""The Avro contracts in `schemas/avro/`: loading, fingerprints, versions and PII annotations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastavro.schema import SchemaParseException, fingerprint, parse_schema, to_parsing_canonical_form

from referral_bus.errors import ConfigurationError
from referral_bus.settings import BusSettings

SCHEMA_DIR = BusSettings().schema_dir  # REFERRAL_BUS_SCHEMA_DIR
NAMESPACE = "org.referralbus.v1"

# Load order: a record may reference only records loaded before it.
RECORDS = (
    "CaseReport",
    "Case",
    "RoutingDecision",
    "Referral",
    "DeliveryReceipt",
    "Acknowledgement",
    "DeadLetter",
    "WeeklyStatistics",
    "ReportStatus",
    "RerouteRequest",
    "Disclosure",
    "Erasure",
    "LedgerEntry",
)


@dataclass(frozen=True)
class Schema:
    """One version of one record schema, parsed and fingerprinted."""

    name: str
    version: int
    expanded: dict[str, Any]
    parsed: Any = field(repr=False)
    canonical: str = field(repr=False)
    fingerprint: bytes

    @property
    def fullname(self) -> str:
        """The record's full Avro name."""
        return f"{NAMESPACE}.{self.name}"


def _make(name: str, version: int, expanded: dict[str, Any]) -> Schema:
    try:
        parsed = parse_schema(expanded)  # keeps fastavro's parsed marker: no re-parse per call
    except SchemaParseException as exc:
        raise ConfigurationError(
            f"{name} v{version} is not a valid Avro schema: {exc} (an embedded record may define a type "
            "that the record embedding it defines too; rename one)"
        ) from None
    canonical = to_parsing_canonical_form(parsed)
    fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return Schema(name, version, expanded, parsed, canonical, fp)


def expand_references(node: Any, named: dict[str, Any]) -> Any:
    """Replace references to named types by their definitions (first use only, as Avro requires)."""
    if isinstance(node, str):
        full = node if "." in node else f"{NAMESPACE}.{node}"
        if full in named and named[full] is not None:
            definition = named[full]
            named[full] = None  # defined once; later uses stay references
            return expand_references(json.loads(json.dumps(definition)), named)
        return node
    if isinstance(node, list):
        return [expand_references(n, named) for n in node]
    if isinstance(node, dict):
        out = dict(node)
        if out.get("type") in ("record", "enum", "fixed") and "name" in out:
            full = out["name"] if "." in out["name"] else f"{out.get('namespace', NAMESPACE)}.{out['name']}"
            named.setdefault(full, None)
            named[full] = None
        for key in ("type", "items", "values", "fields"):
            if key in out:
                out[key] = expand_references(out[key], named)
        return out
    return node


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"cannot read Avro schema {path}: {exc}") from exc
    return data


@dataclass
class Contracts:
    """Current schema of each record plus every earlier version kept under `versions/`."""

    current: dict[str, Schema]
    history: dict[str, list[Schema]]

    def by_fingerprint(self) -> dict[bytes, Schema]:
        """Every known writer schema (current and earlier) by its CRC-64-AVRO fingerprint."""
        out: dict[bytes, Schema] = {}
        for versions in self.history.values():
            for s in versions:
                out[s.fingerprint] = s
        for s in self.current.values():
            out[s.fingerprint] = s
        return out


def _named_definitions(raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every named type defined anywhere in the current files, by full name."""
    named: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict):
            if node.get("type") in ("record", "enum", "fixed") and "name" in node:
                named[f"{node.get('namespace', NAMESPACE)}.{node['name']}"] = node
            for key in ("type", "items", "values", "fields"):
                if key in node:
                    walk(node[key])

    for doc in raw.values():
        walk(doc)
    return named


def load_contracts(directory: Path = SCHEMA_DIR) -> Contracts:
    """Load `<Name>.avsc` (current) and `versions/<Name>.v<N>.avsc` (earlier, self-contained)."""
    raw = {name: _read(directory / f"{name}.avsc") for name in RECORDS}
    definitions = _named_definitions(raw)
    current: dict[str, Schema] = {}
    history: dict[str, list[Schema]] = {}
    for name in RECORDS:
        named = {k: v for k, v in definitions.items() if not k.endswith(f".{name}")}
        expanded = expand_references(raw[name], named)
        versions = sorted(
            (directory / "versions").glob(f"{name}.v*.avsc"),
            key=lambda p: int(p.stem.rsplit(".v", 1)[1]),
        )
        history[name] = [_make(name, int(p.stem.rsplit(".v", 1)[1]), _read(p)) for p in versions]
        current[name] = _make(name, len(history[name]) + 1, expanded)
    return Contracts(current, history)


@cache
def contracts() -> Contracts:
    """The repository's contracts, loaded once per process."""
    return load_contracts()


def pii_paths(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every field annotated `"pii": true`, nested records included."""
    out: list[str] = []

    def walk_type(node: Any, path: str) -> None:
        if isinstance(node, list):
            for n in node:
                walk_type(n, path)
        elif isinstance(node, dict):
            if node.get("type") == "record":
                for f in node["fields"]:
                    child = f"{path}.{f['name']}" if path else f["name"]
                    if f.get("pii"):
                        out.append(child)
                    walk_type(f["type"], child)
            elif node.get("type") == "array":
                walk_type(node["items"], path)

    walk_type(schema, prefix)
    return out
