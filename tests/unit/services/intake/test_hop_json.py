"""The correlation hops' JSON, written by one encoder built once, is `json.dumps` with the same arguments."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.intake.correlate import _dumps

_KEYS = st.text(max_size=8) | st.integers(-5, 5) | st.floats(allow_nan=False) | st.booleans() | st.none()
_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_JSON = st.recursive(
    _LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=20
)


def former(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")


def outcome(write: Any, obj: Any) -> tuple[str, Any]:
    try:
        return "ok", write(obj)
    except Exception as exc:  # the same refusal is part of the claim
        return type(exc).__name__, str(exc)


@given(st.dictionaries(_KEYS, _JSON, max_size=6))
def test_the_same_bytes_or_the_same_refusal_as_json_dumps(obj: dict[Any, Any]) -> None:
    assert outcome(_dumps, obj) == outcome(former, obj)


def test_a_hop_and_a_circular_value() -> None:
    hop = {"kind": "lookup", "keys": [["d", "url"]], "match": None, "step": 0, "accepted_at": 1, "case_id": "é\u2028"}
    assert _dumps(hop) == former(hop)
    loop: dict[str, Any] = {}
    loop["self"] = loop
    assert outcome(_dumps, loop) == outcome(former, loop)  # ValueError: Circular reference detected
