"""Data minimisation: a case reduced to what a recipient's data profile allows."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from referral_bus.contracts import contracts, pii_paths
from referral_bus.settings import config_file

PROFILES_FILE = config_file("profiles.yaml")


@dataclass(frozen=True)
class Profile:
    """Which fields of a Case a recipient may receive."""

    name: str
    allow_all_pii: bool = False
    allow_pii: frozenset[str] = frozenset()
    only: frozenset[str] | None = None


@cache
def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    """Profiles by name from the profiles file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["profiles"]
    return {
        name: Profile(
            name,
            bool(p.get("allow_all_pii", False)),
            frozenset(p.get("allow_pii", ())),
            frozenset(p["only"]) if "only" in p else None,
        )
        for name, p in data.items()
    }


@cache
def case_pii_paths() -> tuple[str, ...]:
    """PII fields of the Case record, from the schema annotations."""
    return tuple(pii_paths(contracts().current["Case"].expanded))


def _copy(value: Any) -> Any:
    """A deep copy of decoded Avro data (dicts, lists, scalars), much cheaper than `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


_SCALARS = frozenset({str, int, float, bool, type(None), bytes})
_GONE = object()  # a leaf of a deletion tree: this key is withheld


def _tree(paths: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    """Dotted paths as a tree of their components; a withheld path is a leaf (`_GONE`), which wins over deeper ones."""
    tree: dict[str, Any] = {}
    for path in paths:
        *parents, last = path.split(".")
        node: Any = tree
        for part in parents:
            node = node.setdefault(part, {})
            if node is _GONE:
                break
        else:
            node[last] = _GONE
    return tree


def _copy_without(doc: dict[str, Any], gone: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `doc` without the keys of the deletion tree `gone` (followed through dicts only)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        below = gone.get(key)
        if below is _GONE:
            continue
        out[key] = _copy_without(value, below) if below is not None and isinstance(value, dict) else _copy(value)
    return out


def _keep_only(doc: dict[str, Any], paths: frozenset[str], parents: frozenset[str], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if path in paths:
            out[key] = value
        elif isinstance(value, dict) and path in parents:
            out[key] = _keep_only(value, paths, parents, path + ".")
    return out


@dataclass(frozen=True)
class _Plan:
    """A profile compiled once: the PII it withholds (as a tree) and the paths `only` keeps with their parents."""

    gone: dict[str, Any]
    keep: frozenset[str] | None
    keep_parents: frozenset[str]


@cache
def _plan(profile: Profile, pii: tuple[str, ...]) -> _Plan:
    withheld = () if profile.allow_all_pii else tuple(p for p in pii if p not in profile.allow_pii)
    keep = None
    if profile.only is not None:
        keep = profile.only | (profile.allow_pii if not profile.allow_all_pii else frozenset())
    # every proper prefix of a kept path that ends before a ".": a dict there may hold kept fields
    parents = frozenset(p[:i] for p in keep or () for i, c in enumerate(p) if c == ".")
    return _Plan(_tree(withheld), keep, parents)


def redact(case: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A copy of `case` without the fields `profile` may not see; PII is withheld unless allowed."""
    plan = _plan(profile, case_pii_paths())  # the schema's PII paths are part of the key: one plan per schema
    doc = _copy_without(case, plan.gone)
    if plan.keep is not None:
        doc = _keep_only(doc, plan.keep, plan.keep_parents)
    return doc
