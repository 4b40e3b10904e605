"""Schema evolution rules: the current reader schema must read everything each earlier writer wrote."""

from __future__ import annotations

from typing import Any

from referral_bus.contracts import NAMESPACE


def named_type(s: Any) -> str | None:
    """The name a record, enum or fixed schema defines; None for any other schema."""
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


def collect_named(s: Any, named: dict[str, Any]) -> None:
    """Add every named type defined anywhere in `s` to `named` (name → definition)."""
    if isinstance(s, list):
        for x in s:
            collect_named(x, named)
    elif isinstance(s, dict):
        n = named_type(s)
        if n:
            named[f"{s.get('namespace', NAMESPACE)}.{n}" if "." not in n else n] = s
        for key in ("fields",):
            for f in s.get(key, []):
                collect_named(f["type"], named)
        for key in ("items", "values"):
            if key in s:
                collect_named(s[key], named)


def incompatibilities(writer: Any, reader: Any, path: str) -> list[str]:
    """Why `reader` cannot read data written with `writer` (Avro schema-resolution rules)."""
    wn: dict[str, Any] = {}
    rn: dict[str, Any] = {}
    collect_named(writer, wn)
    collect_named(reader, rn)
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
    wname, rname = named_type(w), named_type(r)
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
