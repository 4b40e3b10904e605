"""Checks on a writer schema from a schema registry before it is used: bounded, not recursive, usable by our reader.

Anyone who can register a schema can make a message's writer schema what they like. Decoding cost is
bounded by the message's bytes only when no array or map item can be encoded in zero bytes (`null`, a
record without fields, a `fixed` of size 0: a huge declared count is then read for ever) and no type
contains itself (a recursive type nests as deep as the payload says, past Python's stack). So a
registry schema is refused when it is too large or too deeply nested, is recursive, repeats zero-width
items, uses a logical type (fastavro would hand our reader a converted value), or has a record or a
field our reader cannot use (`usable`): an extra writer field is read past only when it is a scalar.
Messages say what rule was broken, never a schema body.
"""

from __future__ import annotations

from typing import Any

MAX_SCHEMA_CHARS = 262_144  # our largest expanded schema is under 10 KB
MAX_DEPTH = 32  # nesting of records, arrays, maps and unions; ours reach 6
MAX_NODES = 10_000  # types and fields in one schema

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string", "bytes"})


class _Refused(Exception):
    """Internal: the first rule a schema breaks."""


def refusal(schema: Any) -> str | None:
    """The first rule `schema` (parsed JSON) breaks, or None when it is safe to decode with."""
    try:
        _Walk().type(schema, "", 1, ())
    except _Refused as exc:
        return str(exc)
    return None


class _Walk:
    """One pass over a schema: depth, size, recursion, zero-width repeated items, logical types."""

    def __init__(self) -> None:
        self.nodes = 0
        self.named: dict[str, tuple[int, bool]] = {}  # full name -> (depth of its subtree, zero-width)

    def type(self, node: Any, ns: str, depth: int, stack: tuple[str, ...]) -> tuple[int, bool]:
        """(depth of the subtree, whether a value of it can take zero bytes)."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} types and fields (rule: bounded size)")
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels (rule: bounded nesting)")
        if isinstance(node, str):
            return self._reference(node, ns, depth, stack)
        if isinstance(node, list):
            deepest = depth
            for branch in node:
                deepest = max(deepest, self.type(branch, ns, depth + 1, stack)[0])
            return deepest, False  # a union always writes its branch index
        if not isinstance(node, dict) or "type" not in node:
            raise _Refused("a type is neither a name, a union nor an object with a type (rule: valid Avro)")
        if "logicalType" in node:
            raise _Refused(f"uses the logical type {str(node['logicalType'])[:40]!r}; our reader uses none")
        kind = node["type"]
        if isinstance(kind, (dict, list)):
            return self.type(kind, ns, depth, stack)
        if kind in PRIMITIVES:
            return depth, kind == "null"
        if kind in ("array", "map"):
            inner = node.get("items" if kind == "array" else "values")
            deepest, zero = self.type(inner, ns, depth + 1, stack)
            if zero:
                raise _Refused(
                    f"{kind} of items that take zero bytes (null, an empty record, fixed of size 0): a huge "
                    "count would be read for ever (rule: every repeated item takes bytes)"
                )
            return deepest, False
        if kind in ("record", "error", "enum", "fixed"):
            return self._named(node, ns, depth, stack)
        return self._reference(str(kind), ns, depth, stack)

    def _named(self, node: dict[str, Any], ns: str, depth: int, stack: tuple[str, ...]) -> tuple[int, bool]:
        full, ns = _full_name(node, ns)
        if node["type"] == "enum":
            result = (depth, False)
        elif node["type"] == "fixed":
            result = (depth, node.get("size") == 0)
        else:
            fields = node.get("fields")
            if not isinstance(fields, list):
                raise _Refused(f"record {_short(full)} has no list of fields (rule: valid Avro)")
            deepest, zero = depth, True
            for f in fields:
                if not isinstance(f, dict) or "type" not in f:
                    raise _Refused(f"record {_short(full)} has a field without a type (rule: valid Avro)")
                d, z = self.type(f["type"], ns, depth + 1, (*stack, full))
                deepest, zero = max(deepest, d), zero and z
            result = (deepest, zero)
        self.named[full] = (result[0] - depth, result[1])
        return result

    def _reference(self, name: str, ns: str, depth: int, stack: tuple[str, ...]) -> tuple[int, bool]:
        if name in PRIMITIVES:
            return depth, name == "null"
        full = name if "." in name else f"{ns}.{name}" if ns else name
        if full not in self.named and name in self.named:  # defined without a namespace
            full = name
        if full in stack or _short(full) in {_short(s) for s in stack}:
            raise _Refused(f"type {_short(full)} contains itself (rule: no recursive types)")
        if full not in self.named:
            raise _Refused(f"refers to {_short(full)[:60]!r}, which it does not define first (rule: valid Avro)")
        below, zero = self.named[full]
        if depth + below > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels (rule: bounded nesting)")
        return depth + below, zero


def usable(writer: Any, reader: dict[str, Any]) -> str | None:
    """Why our `reader` cannot use all of a safe `writer`, or None: records must be ours, extra fields scalars."""
    ours: dict[str, dict[str, Any]] = {}
    for rec in _records(reader, ""):
        for alias in [rec["name"], *rec.get("aliases", [])]:
            ours.setdefault(_short(str(alias)), rec)
    theirs = _records(writer, "")
    kinds = {_full_name(r, "")[0]: r for r in _named(writer, "")}
    for rec in theirs:
        name = _short(str(rec["name"]))
        mine = ours.get(name)
        if mine is None:
            return f"record {name[:60]!r} is not one our reader has (rule: only types our reader can use)"
        known = {f["name"] for f in mine["fields"]} | {a for f in mine["fields"] for a in f.get("aliases", [])}
        for f in rec["fields"]:
            if f["name"] not in known and not _scalar(f["type"], kinds):
                return (
                    f"field {name}.{str(f['name'])[:60]} is not in our reader and is not a scalar "
                    "(rule: only scalar fields our reader ignores are read past)"
                )
    return None


def _scalar(node: Any, kinds: dict[str, dict[str, Any]]) -> bool:
    if isinstance(node, list):
        return all(_scalar(b, kinds) for b in node)
    if isinstance(node, dict):
        kind = node["type"]
        return kind in PRIMITIVES or kind in ("enum", "fixed") or (isinstance(kind, str) and _scalar(kind, kinds))
    if node in PRIMITIVES:
        return True
    target = next((d for full, d in kinds.items() if _short(full) == _short(node)), None)
    return target is not None and target["type"] in ("enum", "fixed")


def _named(node: Any, ns: str) -> list[dict[str, Any]]:
    """Every named type defined in a (safe) schema."""
    out: list[dict[str, Any]] = []
    if isinstance(node, list):
        for b in node:
            out.extend(_named(b, ns))
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            out.append(node)
            ns = _full_name(node, ns)[1]
        if isinstance(kind, (dict, list)):
            out.extend(_named(kind, ns))
        for f in node.get("fields", []) if kind in ("record", "error") else []:
            out.extend(_named(f["type"], ns))
        for key in ("items", "values"):
            if key in node:
                out.extend(_named(node[key], ns))
    return out


def _records(node: Any, ns: str) -> list[dict[str, Any]]:
    return [n for n in _named(node, ns) if n["type"] in ("record", "error")]


def _full_name(node: dict[str, Any], ns: str) -> tuple[str, str]:
    """(full name, namespace for the types inside it)."""
    name = str(node.get("name", ""))
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    space = str(node.get("namespace", ns) or "")
    return (f"{space}.{name}" if space else name), space


def _short(full: str) -> str:
    return full.rsplit(".", 1)[-1]
