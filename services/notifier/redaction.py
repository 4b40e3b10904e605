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


def _delete(doc: dict[str, Any], path: str) -> None:
    parts = path.split(".")
    node: Any = doc
    for p in parts[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def _keep_only(doc: dict[str, Any], paths: frozenset[str], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if path in paths:
            out[key] = value
        elif isinstance(value, dict) and any(p.startswith(path + ".") for p in paths):
            out[key] = _keep_only(value, paths, path + ".")
    return out


def redact(case: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A copy of `case` without the fields `profile` may not see; PII is withheld unless allowed."""
    doc = copy.deepcopy(case)
    if not profile.allow_all_pii:
        for path in case_pii_paths():
            if path not in profile.allow_pii:
                _delete(doc, path)
    if profile.only is not None:
        doc = _keep_only(doc, profile.only | (profile.allow_pii if not profile.allow_all_pii else frozenset()))
    return doc
