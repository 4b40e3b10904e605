"""Every record a service writes is in its `Service(..., encodes=...)`: the registry prefetch looks it up.

Read from the source (no Faust app is built): the record names given to `encode("<Record>", ...)` in a
service's modules, plus `ReportStatus` when it sends agencies' statuses (`StatusTopics`), must all be in
the `encodes` tuple of its app.py. DeadLetter is written in single-object framing and needs no look-up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from referral_bus.codec import SINGLE_OBJECT_ONLY
from referral_bus.settings import REPO_ROOT

SERVICES = sorted(p.name for p in (REPO_ROOT / "services").iterdir() if (p / "app.py").exists())


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def written(service: str) -> set[str]:
    """Record names a service's modules encode."""
    out: set[str] = set()
    for path in Path(REPO_ROOT / "services" / service).rglob("*.py"):
        for call in _calls(ast.parse(path.read_text())):
            name = _name(call)
            if name == "StatusTopics":
                out.add("ReportStatus")
            first = call.args[0] if call.args else None
            if name == "encode" and isinstance(first, ast.Constant) and str(first.value)[:1].isupper():
                out.add(str(first.value))
    return out - SINGLE_OBJECT_ONLY


def declared(service: str) -> set[str]:
    """The `encodes` tuple of the service's `Service(...)` in app.py."""
    tree = ast.parse((REPO_ROOT / "services" / service / "app.py").read_text())
    for call in _calls(tree):
        if _name(call) == "Service":
            for kw in call.keywords:
                if kw.arg == "encodes":
                    return set(ast.literal_eval(kw.value))
            return set()
    raise AssertionError(f"services/{service}/app.py builds no Service")


def test_services_are_found() -> None:
    assert {"intake", "routing", "notifier", "stats", "inbox", "ledger"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_every_written_record_is_declared(service: str) -> None:
    missing = written(service) - declared(service)
    assert not missing, f"services/{service}/app.py: add {sorted(missing)} to Service(..., encodes=...)"
