"""`Table(packed=...)`: list and object fields kept as JSON text in memory, untracked by the collector."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from faust.utils import json as faust_json
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.packed import encoded, pack, unpack, unpacked
from referral_bus.tables import Table
from tests.support.tables import JSON, Client, direct_table, record

FIELDS = frozenset({"history", "ids"})


def entry(at: int = 7) -> dict[str, Any]:
    """A row like the notifier's: scalars, a list of objects and a list of strings."""
    return {"case_id": "c", "status": "DELIVERED", "at": at, "history": [{"state": "DELIVERED", "at": at}], "ids": []}


def write(t: Table, how: str, value: dict[str, Any]) -> Any:
    """`value` written the three ways a table is written: `put` ("a"), `t[key] = value` ("b"), `put_in` ("c")."""
    if how == "put":
        return t.put("a", value)
    if how == "set":
        t["b"] = value
        return None
    return t.put_in(1, "c", value)


def test_a_written_row_is_untracked_and_its_record_holds_the_lists() -> None:
    async def run() -> None:
        client, plain = Client(), Client()
        t, same = direct_table("packed-write", client, packed=FIELDS), direct_table("packed-write", plain)
        t.partition_for_key = same.partition_for_key = lambda key: 3  # type: ignore[method-assign]  # no Faust event
        for how in ("put", "set", "put_in"):
            for tb in (t, same):
                sent = write(tb, how, entry())
                if sent is not None:
                    await sent
        assert [gc.is_tracked(t.data[k]) for k in "abc"] == [False, False, False]
        assert [gc.is_tracked(same.data[k]) for k in "abc"] == [True, True, True]  # a list field: tracked for ever
        assert [unpack(t.data[k], FIELDS) for k in "abc"] == [entry()] * 3  # readers' view: the same row
        assert unpacked(t.data["a"], "history") == entry()["history"] == unpacked(entry(), "history")
        assert client.got == plain.got and len(client.got) == 3  # the same changelog bytes as without packing

    asyncio.run(run())


def test_a_recovered_row_is_packed_as_a_written_one() -> None:
    t = direct_table("packed-recover", None, packed=FIELDS)
    t.apply_changelog_batch([record("a", entry(), 2)])
    assert t.data["a"] == pack(entry(), FIELDS) and not gc.is_tracked(t.data["a"])
    assert unpack(t.data["a"], FIELDS) == entry()


LISTED = st.none() | st.lists(JSON, max_size=3) | st.dictionaries(st.text(max_size=5), JSON, max_size=3)


@settings(deadline=None, max_examples=150)
@given(
    fields=st.fixed_dictionaries({}, optional={"history": LISTED, "ids": LISTED}),
    others=st.dictionaries(st.text(max_size=5), JSON, max_size=3),
)
def test_packing_gives_back_the_same_value(fields: dict[str, Any], others: dict[str, Any]) -> None:
    value = {**{k: v for k, v in others.items() if k not in FIELDS}, **fields}
    packed = pack(value, FIELDS)
    assert unpack(packed, FIELDS) == value
    assert {k: unpacked(packed, k) for k in FIELDS} == {k: value.get(k) for k in FIELDS}  # what a reader gets
    assert not any(isinstance(packed[k], list | dict) for k in FIELDS & value.keys())  # no container left in them
    assert {k: v for k, v in packed.items() if k not in FIELDS} == {k: v for k, v in value.items() if k not in FIELDS}


ENCODE = faust_json.JSONEncoder(separators=(",", ":")).encode  # what changelog_json.py writes a record with
SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | st.text()  # unicode, NaN, ±inf, -0.0 included
NESTED = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)
FIELD = st.none() | st.lists(NESTED, max_size=3) | st.dictionaries(st.text(max_size=4), NESTED, max_size=3)


@settings(deadline=None, max_examples=400)
@given(data=st.data())
def test_a_record_with_the_packed_text_set_in_place_is_the_record_decoded_and_encoded_again(data: Any) -> None:
    others = data.draw(st.dictionaries(st.text(max_size=3).filter(lambda k: k not in FIELDS), NESTED, max_size=4))
    fields = data.draw(st.fixed_dictionaries({}, optional={"history": FIELD, "ids": FIELD}))
    value = dict(data.draw(st.permutations([*others.items(), *fields.items()])))  # packed fields anywhere, or absent
    held = pack(value, FIELDS)
    assert encoded(ENCODE, held, FIELDS) == ENCODE(unpack(held, FIELDS)) == ENCODE(value)
    copied = {**held, "status": "ACKNOWLEDGED"}  # a row copied with its packed text, as the handlers do
    assert encoded(ENCODE, copied, FIELDS) == ENCODE(unpack(copied, FIELDS))


@given(holders=st.dictionaries(st.integers() | st.text(max_size=2), st.text(max_size=3), max_size=4))
def test_a_packed_object_with_other_keys_than_strings_is_written_as_before_packing(holders: dict[Any, str]) -> None:
    value = {"ids": holders, "at": 1}
    assert encoded(ENCODE, pack(value, FIELDS), FIELDS) == ENCODE(value)  # even {1: .., "1": ..}: both keys


def test_a_string_in_a_packed_field_that_is_no_packed_text_is_decoded_and_encoded() -> None:
    for text in ("1e2", '"\\u00fc"', "null", "-0.0"):
        value = {"history": text, "at": 1}
        assert encoded(ENCODE, value, FIELDS) == ENCODE(unpack(value, FIELDS))


def test_a_record_is_written_with_the_packed_text_through_the_table() -> None:
    async def run() -> None:
        client, plain = Client(), Client()
        t, same = direct_table("packed-bytes", client, packed=FIELDS), direct_table("packed-bytes", plain)
        value = {"ids": ["a\u00e9", 1.5e-7], "case_id": "c", "history": [{}, [], {"z": None, "a": [-0.0]}], "x": {}}
        for tb in (t, same):
            tb.partition_for_key = lambda key: 0  # type: ignore[method-assign]  # no Faust event
            await tb.put("k", value)
        assert client.got == plain.got and client.got[0][2] == ENCODE(value).encode()

    asyncio.run(run())
