"""The compiled redaction gives exactly what the original deepcopy-and-delete version gave, for any case shape."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_domain import disclosure
from services.notifier.payload import Document, body, document
from services.notifier.redaction import Profile, case_pii_paths, load_profiles, redact
from tests.support.notifier import case

# --- the implementations this module replaced, kept verbatim as the reference ---------------------


def _reference_delete(doc: dict[str, Any], path: str) -> None:
    parts = path.split(".")
    node: Any = doc
    for p in parts[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def _reference_keep_only(doc: dict[str, Any], paths: frozenset[str], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if path in paths:
            out[key] = value
        elif isinstance(value, dict) and any(p.startswith(path + ".") for p in paths):
            out[key] = _reference_keep_only(value, paths, path + ".")
    return out


def reference_redact(case: dict[str, Any], profile: Profile) -> dict[str, Any]:
    doc = copy.deepcopy(case)
    if not profile.allow_all_pii:
        for path in case_pii_paths():
            if path not in profile.allow_pii:
                _reference_delete(doc, path)
    if profile.only is not None:
        allowed = profile.allow_pii if not profile.allow_all_pii else frozenset()
        doc = _reference_keep_only(doc, profile.only | allowed)
    return doc


def reference_field_paths(doc: Any, prefix: str = "") -> list[str]:
    if isinstance(doc, dict):
        out: list[str] = []
        for key, value in doc.items():
            out.extend(reference_field_paths(value, f"{prefix}{key}."))
        return sorted(out)
    if doc is None or (isinstance(doc, list) and not doc):
        return []
    return [prefix.rstrip(".")]


# --- case-shaped data: the real field names (PII and kept paths among them), odd ones, odd types ---------

NAMES = sorted(
    {part for p in case_pii_paths() for part in p.split(".")}
    | {part for prof in load_profiles().values() for p in (prof.only or ()) for part in p.split(".")}
    | {"victim.name", "x", "", "report.victim"}  # dotted and empty keys: matched as whole keys, never split
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.binary(max_size=3))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(NAMES), inner, max_size=5),
    ),
    max_leaves=25,
)
CASES = st.fixed_dictionaries(
    {"report": st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8)},
    optional={"case_id": VALUES, "accepted_at": VALUES, "victim": VALUES, "linked_reports": VALUES},
)
PROFILES = st.sampled_from(sorted(load_profiles().values(), key=lambda p: p.name)) | st.builds(
    Profile,
    st.just("random"),
    st.booleans(),
    st.frozensets(st.sampled_from(case_pii_paths())),
    st.none() | st.frozensets(st.sampled_from(NAMES) | st.sampled_from(case_pii_paths()), max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(CASES, PROFILES)
def test_redact_equals_the_reference(c: dict[str, Any], profile: Profile) -> None:
    before = copy.deepcopy(c)
    got = redact(c, profile)
    assert got == reference_redact(before, profile)
    assert json.dumps(got, sort_keys=True, default=repr) == json.dumps(
        reference_redact(before, profile), sort_keys=True, default=repr
    )
    assert c == before  # the input is never changed
    if profile.name == "random" or got:  # a copy: changing the document never reaches the case
        _scribble(got)
        assert c == before


def _scribble(doc: Any) -> None:
    if isinstance(doc, dict):
        for value in list(doc.values()):
            _scribble(value)
        doc["scribbled"] = True
    elif isinstance(doc, list):
        for value in doc:
            _scribble(value)
        doc.append("scribbled")


@settings(max_examples=200, deadline=None)
@given(VALUES, st.sampled_from(["", "case.", "x"]))
def test_field_paths_equal_the_reference(doc: Any, prefix: str) -> None:
    assert disclosure.field_paths(doc, prefix) == reference_field_paths(doc, prefix)


def test_the_shipped_profiles_on_a_real_case_equal_the_reference() -> None:
    c = case()
    for profile in load_profiles().values():
        assert redact(c, profile) == reference_redact(c, profile)


def test_a_document_s_bytes_are_computed_once_and_are_the_canonical_json() -> None:
    referral = {
        "referral_id": "r1",
        "case_id": "case-1",
        "recipient_id": "p",
        "priority": "P2",
        "ack_sla_seconds": 60,
        "preservation_request": False,
        "reason": "ư",
        "rule_ids": ["a"],
        "created_at": 1,
        "case": case(),
    }
    doc = document(referral, load_profiles()["need_to_know"])
    assert isinstance(doc, Document)
    expected = json.dumps(dict(doc), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    assert body(doc) == expected and body(doc) is body(doc)
    assert body(dict(doc)) == expected
    changes: list[Callable[[Document], object]] = [
        lambda d: d.__setitem__("reason", "x"),
        lambda d: d.pop("reason"),
        lambda d: d.update(reason="x"),
        lambda d: d.clear(),
        lambda d: d.setdefault("new", 1),
    ]
    for change in changes:
        with pytest.raises(TypeError):
            change(doc)
    assert body(doc) == expected
