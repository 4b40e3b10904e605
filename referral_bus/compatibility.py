"""Schema evolution rules: the current reader schema must read everything each earlier writer wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from referral_bus.contracts import NAMESPACE, Contracts, Schema, _expand
from referral_bus.contracts import contracts as shipped_contracts

Schema_ = Any


def _name(s: Any) -> str | None:
    if isinstance(s, dict) and s.get("type") in ("record", "enum", "fixed"):
        return str(s["name"])
    return None


def _type_name(s: Any) -> str:
    if isinstance(s, str):
        return s
    if isinstance(s, list):
        return "union"
    return str(s.get("type"))


_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def _resolve(named: dict[str, Any], s: Any) -> Any:
    if isinstance(s, str) and s not in _PROMOTIONS and s not in ("null", "boolean", "double"):
        full = s if "." in s else f"{NAMESPACE}.{s}"
        return named.get(full, s)
    return s


def _collect(s: Any, named: dict[str, Any]) -> None:
    if isinstance(s, list):
        for x in s:
            _collect(x, named)
    elif isinstance(s, dict):
        n = _name(s)
        if n:
            named[f"{s.get('namespace', NAMESPACE)}.{n}" if "." not in n else n] = s
        for key in ("fields",):
            for f in s.get(key, []):
                _collect(f["type"], named)
        for key in ("items", "values"):
            if key in s:
                _collect(s[key], named)


def incompatibilities(writer: Any, reader: Any, path: str) -> list[str]:
    """Why `reader` cannot read data written with `writer` (Avro schema-resolution rules)."""
    wn: dict[str, Any] = {}
    rn: dict[str, Any] = {}
    _collect(writer, wn)
    _collect(reader, rn)
    return _check(writer, reader, path, wn, rn)


def _check(w: Any, r: Any, path: str, wn: dict[str, Any], rn: dict[str, Any]) -> list[str]:
    w, r = _resolve(wn, w), _resolve(rn, r)
    if isinstance(w, list):
        out = []
        for branch in w:
            if isinstance(r, list):
                if not any(not _check(branch, rb, path, wn, rn) for rb in r):
                    out.append(
                        f"{path}: writer's union branch {_type_name(branch)} has no match in the reader's union "
                        "(rule: every writer union branch must resolve to a reader branch)"
                    )
            else:
                out.extend(_check(branch, r, path, wn, rn))
        return out
    if isinstance(r, list):
        if any(not _check(w, rb, path, wn, rn) for rb in r):
            return []
        return [
            f"{path}: writer's {_type_name(w)} matches no branch of the reader's union "
            "(rule: the writer's type must resolve to a reader union branch)"
        ]
    wt, rt = _type_name(w), _type_name(r)
    if wt != rt and rt not in _PROMOTIONS.get(wt, {wt}):
        return [f"{path}: type changed from {wt} to {rt} (rule: types may only change by Avro promotion)"]
    wname, rname = _name(w), _name(r)
    if wname is not None and rname is not None and wname != rname and wname not in r.get("aliases", []):
        return [
            f"{path}: {wt} renamed from {wname} to {rname} (rule: a renamed type must list its old name in aliases)"
        ]
    if wt == "fixed" and w.get("size") != r.get("size"):
        return [f"{path}: fixed size changed from {w.get('size')} to {r.get('size')} (rule: fixed sizes never change)"]
    if wt == "record":
        out = []
        wfields = {f["name"]: f for f in w["fields"]}
        for f in r["fields"]:
            fp = f"{path}.{f['name']}"
            if f["name"] in wfields:
                out.extend(_check(wfields[f["name"]]["type"], f["type"], fp, wn, rn))
            elif "default" not in f:
                out.append(f"{fp}: field added without a default (rule: new fields need a default)")
        return out
    if wt == "enum":
        missing = [s for s in w["symbols"] if s not in r["symbols"]]
        if missing and "default" not in r:
            return [
                f"{path}: enum symbols {missing} removed and the reader's enum has no default "
                "(rule: enum symbols may only be removed when the enum has a default)"
            ]
        return []
    if wt == "array":
        return _check(w["items"], r["items"], f"{path}[]", wn, rn)
    if wt == "map":
        return _check(w["values"], r["values"], f"{path}{{}}", wn, rn)
    return []


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
        name = _name(node)
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
    _collect(context, named)
    body = dict(definition)
    body.setdefault("namespace", NAMESPACE)
    parsed = parse_schema(_expand(body, dict(named)), _write_hint=False)
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
