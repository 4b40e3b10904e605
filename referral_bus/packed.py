"""Table values whose list or object fields are held in memory as their JSON text: rows the collector never walks.

CPython's full garbage collection walks every object it tracks. A dict of str, int, float, bool and None is
untracked from birth, but one holding a list or a dict is tracked for ever (a tuple holding a dict too), so a
table row with a list field costs every full collection a walk, ~0.6–4.5 µs a row (bench/results/gc.md).
A table declared with `packed` fields (tables.py) keeps those fields as JSON text in memory, built by `pack`,
and gives them back as lists or objects to its changelog (`unpack`): the changelog's bytes are the same.
Readers take a field through `unpacked`, which accepts either form (a staged value, a test's plain mapping). A
packed field holds a list, an object or nothing (None, absent): a string there is read as packed JSON text.
A changelog record's JSON is written with each packed text set in place (`encoded`), not decoded and encoded again.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Mapping
from typing import Any

_TEXT = json.JSONEncoder(separators=(",", ":"))  # memory only: the changelog gets the unpacked value


def pack(value: Any, fields: frozenset[str]) -> Any:
    """`value` with each of `fields` holding a list or dict as its JSON text, rebuilt so the collector leaves it.

    Only a tracked dict is rebuilt (one holding no container already is untracked); a field whose value is not
    plain JSON is left as it is.
    """
    if type(value) is not dict or not gc.is_tracked(value):
        return value
    return {k: _text(v) if k in fields else v for k, v in value.items()}


def unpack(value: Any, fields: frozenset[str]) -> Any:
    """`value` as its changelog holds it: each packed field back to its list or object (a new dict; else `value`)."""
    if type(value) is not dict or not any(type(value.get(k)) is str for k in fields):
        return value
    return {k: json.loads(v) if k in fields and type(v) is str else v for k, v in value.items()}


def unpacked(value: Mapping[str, Any], name: str) -> Any:
    """A packed field of a table value (or of a plain one) as its list or object; None when absent."""
    raw = value.get(name)
    return json.loads(raw) if type(raw) is str else raw


def encoded(encode: Callable[[Any], str], value: dict[Any, Any], fields: frozenset[str]) -> str:
    """`encode(unpack(value, fields))` (a compact encoder's `encode`) with each packed text set in place, not decoded.

    The other items are encoded in runs (a dict each, its braces dropped); a string not `pack`'s (`[`, `{`) is decoded.
    """
    parts: list[str] = []
    run: dict[Any, Any] = {}
    for k, v in value.items():
        if k in fields and type(v) is str:
            if v[:1] in _OPENERS:
                if run:
                    parts.append(encode(run)[1:-1])
                    run = {}
                parts.append(f"{encode(k)}:{v}")
                continue
            v = json.loads(v)
        run[k] = v
    if run:
        parts.append(encode(run)[1:-1])
    return "{" + ",".join(parts) + "}"


_OPENERS = ("[", "{")  # how the text `pack` writes starts: it packs only lists and dicts


def _text(v: Any) -> Any:
    if type(v) is not list and type(v) is not dict:
        return v
    try:
        return _TEXT.encode(v)
    except (TypeError, ValueError):
        return v
