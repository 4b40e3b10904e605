"""`Table.get` reads the store directly (a stock memory store: its dict): the same answers as Faust's own `get`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.stores.memory import Store
from hypothesis import given
from hypothesis import strategies as st

from tests.support.tables import recording_table

KEYS = st.sampled_from(["a", "b", "c", "", "case-1"])
VALUES = st.none() | st.integers() | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
TABLE = recording_table("tables-get-test")  # one app for every example (making one is slow)


@given(st.dictionaries(KEYS, VALUES), KEYS, st.none() | st.integers())
def test_get_answers_as_faust_s_get_for_present_missing_and_none_values(
    stored: dict[str, Any], key: str, default: int | None
) -> None:
    t = TABLE
    t.data.clear()
    t.data.update(stored)
    assert t.get(key) == Mapping.get(t, key)
    assert t.get(key, default) == Mapping.get(t, key, default)
    assert t.sent == [], "a read writes nothing"


def test_a_read_does_not_go_through_faust_s_sensors() -> None:
    t = recording_table("tables-get-sensor-test")
    t.data["k"] = 1
    seen: list[Any] = []
    t._sensor_on_get = lambda table, key: seen.append(key)  # Faust's hook, called by its own `get`
    assert t.get("k") == 1 and t.get("missing") is None
    assert seen == []
    assert Mapping.get(t, "k") == 1 and seen == ["k"], "Faust's path (for comparison) calls it"


class Defaulting(Store[str, Any]):
    """A memory store whose missing keys have a value (`__missing__`): its dict's `get` would not say so."""

    def __missing__(self, key: str) -> str:
        return f"made for {key}"


class Counting(Store[str, Any]):
    """A memory store whose `get` is its own (counted): the table must leave it to answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.append(key)
        return super().get(key, default)


def test_a_store_of_its_own_answers_for_itself_and_a_replaced_store_is_read() -> None:
    t = recording_table("tables-get-stores-test")
    t.data["k"] = 1
    assert t.get("k") == 1 and t.get("gone", 0) == 0  # the stock memory store, read through its dict
    t._data = Defaulting(url="memory://", app=t.app, table=t)
    t.data["k"] = 2
    assert t.get("k") == 2, "the new store, not the one read before"
    assert t.get("gone", 0) == Mapping.get(t.data, "gone", 0) == "made for gone"
    counting = t._data = Counting(url="memory://", app=t.app, table=t)
    assert t.get("k", 3) == 3 and counting.asked == ["k"]
    t._data = plain = Store(url="memory://", app=t.app, table=t)
    plain.data = {"k": 4}  # a store's dict replaced: read where the store holds its entries now
    assert t.get("k") == 4
