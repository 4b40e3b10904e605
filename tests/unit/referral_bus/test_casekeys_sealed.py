"""`sealed` with its paths split once answers as the version that split them on every call, for any report shape."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.casecrypt import PREFIX, is_sealed
from referral_bus.casekeys import case_paths, sealed


def reference_sealed(case: dict[str, Any]) -> bool:
    report = case.get("report") or {}
    values = [v for p in case_paths() for v in reference_values(report, p.removeprefix("report."))]
    return any(is_sealed(v) for v in values)


def reference_values(node: Any, path: str) -> list[Any]:
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, list) else [node]


NAMES = sorted({part for p in case_paths() for part in p.split(".")} | {"x", ""})
LEAVES = st.none() | st.integers() | st.text(max_size=4) | st.text(max_size=4).map(lambda t: PREFIX + t)
NODES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["report", "case_id", "x"]), NODES, max_size=3))
def test_sealed_equals_the_reference(case: dict[str, Any]) -> None:
    assert sealed(case) == reference_sealed(case)


def test_a_sealed_personal_field_in_a_list_or_nested_is_found() -> None:
    assert sealed({"report": {"victim": {"name": PREFIX + "abc"}}})
    assert sealed({"report": {"content_urls": ["https://x", PREFIX + "abc"]}})
    assert not sealed({"report": {"victim": {"name": "plain"}, "category": PREFIX + "not personal"}})
