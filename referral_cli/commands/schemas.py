"""`referral-bus schemas check`: fingerprints and backward compatibility of every contract.

`check_all` runs the whole check (the evolution rules themselves are the kernel's `compatibility.py`,
which the codec also applies when it reads an older version).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from referral_bus.compatibility import collect_named, incompatibilities, named_type
from referral_bus.contracts import NAMESPACE, SCHEMA_DIR, Contracts, Schema, expand_references, load_contracts
from referral_bus.contracts import contracts as shipped_contracts
from referral_cli.commands import add, arg, group


@dataclass
class Report:
    """Lines to print and errors found."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def check_all(contracts: Contracts | None = None) -> Report:
    """Every current schema against every earlier version (backward, transitive), unique fingerprints, embeddings."""
    reg = contracts or shipped_contracts()
    report = Report()
    seen: dict[bytes, str] = {}
    for name, current in reg.current.items():
        numbers = [s.version for s in reg.history[name]]
        if numbers != list(range(1, len(numbers) + 1)):
            report.errors.append(
                f"{name}: kept versions are v{numbers} but must be v1..v{len(numbers)} with no gap "
                f"(rule: versions/{name}.v<N>.avsc numbered from 1)"
            )
        for s in [*reg.history[name], current]:
            label = f"{name} v{s.version}"
            if s.fingerprint in seen and seen[s.fingerprint] != label:
                report.errors.append(f"{label}: fingerprint {s.fingerprint.hex()} equals that of {seen[s.fingerprint]}")
            seen[s.fingerprint] = label
        for old in reg.history[name]:
            problems = incompatibilities(old.expanded, current.expanded, name)
            for p in problems:
                report.errors.append(f"{name} v{current.version} cannot read v{old.version}: {p}")
        report.lines.append(
            f"{name:<16} v{current.version}  fingerprint {current.fingerprint.hex()}  "
            f"reads {len(reg.history[name])} earlier version(s)"
        )
    report.errors.extend(embedding_errors(reg))
    return report


def _outermost(node: Any, owned: frozenset[str], found: dict[str, Any]) -> None:
    """Definitions of `owned` named types in `node`, outermost only (a record's nested types come with it)."""
    if isinstance(node, list):
        for n in node:
            _outermost(n, owned, found)
    elif isinstance(node, dict):
        name = named_type(node)
        full = None if name is None else (name if "." in name else f"{node.get('namespace', NAMESPACE)}.{name}")
        if full in owned:
            found.setdefault(full, node)
            return
        for f in node.get("fields", []):
            _outermost(f["type"], owned, found)
        for key in ("items", "values"):
            if key in node:
                _outermost(node[key], owned, found)


def _standalone(definition: Any, context: Any) -> str:
    """Fingerprint of one embedded definition, self-contained (types it uses from `context` inlined)."""
    named: dict[str, Any] = {}
    collect_named(context, named)
    body = dict(definition)
    body.setdefault("namespace", NAMESPACE)
    parsed = parse_schema(expand_references(body, dict(named)), _write_hint=False)
    return str(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


def _forms(versions: list[Schema], owned: frozenset[str]) -> dict[str, dict[str, str]]:
    """For each owned type: fingerprint of its form → the first version label that has it."""
    out: dict[str, dict[str, str]] = {}
    for s in versions:
        found: dict[str, Any] = {}
        _outermost(s.expanded, owned, found)
        for full, definition in found.items():
            out.setdefault(full, {}).setdefault(_standalone(definition, s.expanded), f"v{s.version}")
    return out


def embedding_errors(reg: Contracts) -> list[str]:
    """Records embedding another record's types must keep a version per version of what they embed, and vice versa."""
    errors: list[str] = []
    for owner in reg.current:
        own_versions = [*reg.history[owner], reg.current[owner]]
        owned = frozenset({reg.current[owner].fullname})
        theirs = _forms(own_versions, owned)
        for user in reg.current:
            if user == owner:
                continue
            ours = _forms([*reg.history[user], reg.current[user]], owned)
            for full in ours:
                short = full.rsplit(".", 1)[1]
                for fp, version in theirs.get(full, {}).items():
                    if fp not in ours[full]:
                        errors.append(
                            f"{user}: no current or kept version embeds {short} {version} (fingerprint {fp}): "
                            f"{user} events written while it was current would be unknown_schema "
                            f"(rule: when an embedded record changes, keep a version of every record that embeds it, "
                            f"versions/{user}.v<N>.avsc)"
                        )
                for fp, version in ours[full].items():
                    if fp not in theirs.get(full, {}):
                        errors.append(
                            f"{user} {version} embeds a {short} (fingerprint {fp}) that is neither the current "
                            f"{short} nor a kept version (rule: keep the earlier version of a changed record, "
                            f"versions/{short}.v<N>.avsc)"
                        )
    return errors


def _check(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    report = check_all(load_contracts(directory))
    print(f"contracts in {directory}")
    for line in report.lines:
        print(line)
    if report.errors:
        for err in report.errors:
            print(f"ERROR {err}")
        print(f"schemas: {len(report.errors)} error(s); see schemas/avro/README.md (evolution rules)")
        return 1
    print("schemas: OK (every current schema reads every earlier version; fingerprints unique)")
    return 0


def register(sub: Any) -> None:
    """Add the `schemas` group."""
    actions = group(sub, "schemas", "Avro contract checks")
    contracts = arg("--dir", default=str(SCHEMA_DIR), help="contracts directory (default: schemas/avro)")
    add(actions, "check", _check, "backward (transitive) compatibility and fingerprint registry", contracts)
