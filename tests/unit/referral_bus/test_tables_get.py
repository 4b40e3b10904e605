"""`Table.get` reads the store directly: the same answers as Faust's own `get`, without its per-read sensor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
