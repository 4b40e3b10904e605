"""Hostile writer schemas are refused before use; payloads under a schema that passes cost bounded work."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.codec import MAGIC, Codec
from referral_bus.contracts import contracts
from referral_bus.errors import RejectedMessage
from referral_bus.writer_schema import MAX_DEPTH, MAX_NODES, refusal, usable
from tests.support.avro_bytes import varint
from tests.support.reports import valid_report

FAST = settings(max_examples=120, deadline=None)
names = st.from_regex(r"[A-Z][a-z]{2,6}", fullmatch=True)
scalars = st.sampled_from(["boolean", "int", "long", "float", "double", "string", "bytes"])


def record(name: str, fields: list[Any]) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": [{"name": f"f{i}", "type": t} for i, t in enumerate(fields)]}


def wrap(node: Any, how: str) -> Any:
    return {
        "union": ["null", node],
        "array": {"type": "array", "items": node},
        "map": {"type": "map", "values": node},
        "plain": node,
    }[how]


# --- hostile schemas ---------------------------------------------------------------------------------------


@FAST
@given(
    chain=st.lists(names, min_size=1, max_size=5, unique=True),
    back=st.integers(min_value=0, max_value=4),
    how=st.sampled_from(["union", "array", "map", "plain"]),
    namespace=st.sampled_from([None, "org.agency", "org.referralbus.v1"]),
)
def test_a_recursive_type_is_refused(chain: list[str], back: int, how: str, namespace: str | None) -> None:
    """A → B → … → (reference to one of the enclosing records), however the reference is wrapped."""
    target = chain[back % len(chain)]
    ref = f"{namespace}.{target}" if namespace and back % 2 else target
    node: Any = record(chain[-1], ["string", wrap(ref, how)])
    for name in reversed(chain[:-1]):
        node = record(name, ["long", node])
    if namespace:
        node["namespace"] = namespace
    why = refusal(node)
    assert why is not None and "contains itself" in why and "no recursive types" in why


@FAST
@given(
    layers=st.lists(
        st.sampled_from(["union", "array", "map", "record"]), min_size=MAX_DEPTH + 1, max_size=MAX_DEPTH + 40
    ),
    leaf=scalars,
)
def test_nesting_past_the_bound_is_refused(layers: list[str], leaf: str) -> None:
    node: Any = leaf
    for i, how in enumerate(layers):
        node = record(f"R{i}", [node]) if how == "record" else wrap(node, how)
    node = record("Top", [node])
    why = refusal(node)
    assert why is not None and "nested deeper" in why


def test_nesting_by_reference_counts_the_referenced_depth() -> None:
    """A deep record defined once and reused by name is as deep where it is used."""
    deep: Any = "long"
    for i in range(MAX_DEPTH - 3):
        deep = record(f"D{i}", [deep])
    assert refusal(record("Top", [deep])) is None
    assert "nested deeper" in (
        refusal(record("Top", [deep, {"type": "array", "items": {"type": "array", "items": "D28"}}])) or ""
    )


@FAST
@given(extra=st.integers(min_value=1, max_value=500))
def test_a_huge_schema_is_refused(extra: int) -> None:
    why = refusal(record("Huge", ["int"] * (MAX_NODES + extra)))
    assert why is not None and "bounded size" in why


zero_width = st.sampled_from(
    [
        "null",
        {"type": "null"},
        {"type": "record", "name": "Empty", "fields": []},
        {"type": "fixed", "name": "Nothing", "size": 0},
        {"type": "record", "name": "Nulls", "fields": [{"name": "a", "type": "null"}, {"name": "b", "type": "null"}]},
    ]
)


@FAST
@given(
    item=zero_width,
    kind=st.sampled_from(["array", "map"]),
    depth=st.integers(0, 4),
    before=st.lists(scalars, max_size=3),
)
def test_repeated_items_that_take_zero_bytes_are_refused(item: Any, kind: str, depth: int, before: list[str]) -> None:
    node: Any = {"type": kind, "items" if kind == "array" else "values": item}
    for i in range(depth):
        node = record(f"W{i}", [*before, node])
    why = refusal(record("Top", [*before, node]))
    assert why is not None and "take zero bytes" in why


def test_an_array_of_null_with_a_huge_count_is_what_the_rule_prevents() -> None:
    """Unguarded, four bytes declare a million items (a 2**62 count would never end)."""
    items = schemaless_reader(
        io.BytesIO(varint(1_000_000) + b"\x00"), parse_schema({"type": "array", "items": "null"}), None
    )
    assert isinstance(items, list) and len(items) == 1_000_000
    assert refusal({"type": "array", "items": "null"}) is not None


@pytest.mark.parametrize("logical", ["timestamp-millis", "decimal", "uuid", "date"])
def test_logical_types_are_refused(logical: str) -> None:
    why = refusal(record("T", [{"type": "long", "logicalType": logical}]))
    assert why is not None and "logical type" in why


@pytest.mark.parametrize(
    "schema",
    [{"fields": []}, {"type": "record", "name": "X"}, record("X", [{"no": "type"}]), record("X", ["Undefined"])],
    ids=["no-type", "no-fields", "field-type-not-a-type", "undefined-name"],
)
def test_malformed_schemas_are_refused(schema: Any) -> None:
    assert refusal(schema) is not None


def test_every_contract_and_kept_version_passes() -> None:
    c = contracts()
    for name, current in c.current.items():
        for s in [*c.history[name], current]:
            assert refusal(s.expanded) is None, (name, s.version)
            assert usable(s.expanded, current.expanded) is None, (name, s.version)


# --- only what our reader can use ----------------------------------------------------------------------------


def case_report_with(field: dict[str, Any]) -> dict[str, Any]:
    theirs: dict[str, Any] = json.loads(json.dumps(contracts().current["CaseReport"].expanded))
    theirs["fields"].append(field)
    return theirs


@pytest.mark.parametrize(
    "extra",
    [
        ["null", "string"],
        "long",
        {"type": "enum", "name": "AgencyTier", "symbols": ["A", "B"]},
        {"type": "fixed", "name": "Ref16", "size": 16},
    ],
    ids=["optional-string", "long", "enum", "fixed"],
)
def test_an_extra_scalar_field_is_usable(extra: Any) -> None:
    theirs = case_report_with({"name": "agency_ref", "type": extra, "default": None})
    assert refusal(theirs) is None
    assert usable(theirs, contracts().current["CaseReport"].expanded) is None


@pytest.mark.parametrize(
    "extra",
    [
        {"type": "array", "items": "string"},
        {"type": "map", "values": "long"},
        ["null", record("Blob", ["string"])],
    ],
    ids=["array", "map", "record"],
)
def test_an_extra_field_our_reader_cannot_use_is_refused(extra: Any) -> None:
    theirs = case_report_with({"name": "payload", "type": extra})
    assert refusal(theirs) is None
    why = usable(theirs, contracts().current["CaseReport"].expanded)
    assert why is not None and "CaseReport.payload" in why


def test_a_record_our_reader_does_not_have_is_refused() -> None:
    theirs = record("SomethingElse", ["string"])
    why = usable(theirs, contracts().current["CaseReport"].expanded)
    assert why is not None and "SomethingElse" in why


# --- hostile payloads under a schema that passes -------------------------------------------------------------

safe_types: st.SearchStrategy[Any] = st.recursive(
    scalars | st.just({"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}).map(dict),
    lambda inner: st.one_of(
        inner.map(lambda t: {"type": "array", "items": t}),
        inner.map(lambda t: {"type": "map", "values": t}),
        st.tuples(st.just("null"), inner).map(list),
    ),
    max_leaves=6,
)


def items_in(value: Any) -> int:
    """Array and map entries in a decoded value, nested ones included."""
    if isinstance(value, list):
        return len(value) + sum(items_in(v) for v in value)
    if isinstance(value, dict):
        return len(value) + sum(items_in(v) for v in value.values())
    return 0


def _unique_enums(node: Any, seen: list[int]) -> Any:
    if isinstance(node, list):
        return [_unique_enums(n, seen) for n in node]
    if isinstance(node, dict):
        if node.get("type") == "enum":
            seen.append(1)
            return {**node, "name": f"E{len(seen)}"}
        return {k: _unique_enums(v, seen) for k, v in node.items()}
    return node


@settings(max_examples=300, deadline=None)
@given(fields=st.lists(safe_types, min_size=1, max_size=4), data=st.binary(max_size=512))
def test_under_a_schema_that_passes_decoding_work_is_bounded_by_the_bytes(fields: list[Any], data: bytes) -> None:
    """Every repeated item takes at least one byte, so a declared count cannot outrun the message."""
    schema = _unique_enums(record("Fuzz", fields), [])
    assert refusal(schema) is None
    try:
        value = schemaless_reader(io.BytesIO(data), parse_schema(schema), None)
    except Exception:  # corrupt input may fail in many ways; it must only end
        return
    assert items_in(value) <= len(data)


@settings(max_examples=200, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=10_000),
    count=st.sampled_from([2**31, 2**40, 2**62, -(2**62), 10**9]),
    tail=st.binary(max_size=64),
)
def test_a_report_with_a_huge_declared_count_or_length_is_undecodable_at_once(
    cut: int, count: int, tail: bytes
) -> None:
    """A huge array, map, bytes or string count spliced anywhere into a real report: rejected, nothing else."""
    codec = Codec(schema_registry=None)
    good = codec.encode("CaseReport", valid_report())
    at = len(MAGIC) + 8 + cut % (len(good) - 10)
    hostile = good[:at] + varint(count) + tail + good[at:]
    try:
        record_ = codec.decode(hostile, "CaseReport")
    except RejectedMessage:
        return
    assert items_in(record_) <= len(hostile)
