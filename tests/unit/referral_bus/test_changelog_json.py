"""changelog_json: a changelog key or value has Faust's bytes (or Faust's error), plain JSON without Faust's chain."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import math
import uuid
from collections import OrderedDict
from typing import Any

import faust
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus import changelog_json
from referral_bus.changelog_json import ChangelogJson
from referral_bus.tables import Table


class Colour(enum.Enum):
    RED = "red"


class Point(faust.Record):
    x: int


def topic(app_id: str) -> Any:
    app = faust.App(app_id, store="memory://", value_serializer="json")  # as shell.Service declares it
    return Table(app, name="t", default=None, key_type=str).changelog_topic


TOPIC = topic("changelog-json")

TEXT = st.text(st.characters(codec=None, exclude_categories=()))  # any code point, lone surrogates included
LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**64, max_value=2**200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
EXOTIC = (  # values Faust's JSONEncoder.default writes (or refuses) inside a plain container
    st.uuids()
    | st.decimals(allow_nan=False)
    | st.datetimes(timezones=st.none() | st.just(datetime.UTC))
    | st.dates()
    | st.just(Colour.RED)
    | st.frozensets(st.integers(), max_size=3)
    | st.tuples(st.integers(), TEXT)
    | st.binary(max_size=4)
    | st.builds(Point, x=st.integers())
    | st.just(object())
)
KEYS = TEXT | st.integers() | st.floats() | st.booleans() | st.none()  # JSON object keys Python's encoder converts
JSON = st.recursive(
    LEAF | EXOTIC,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=10,
)


def faust_bytes(kind: str, value: Any, serializer: Any) -> Any:
    """Faust's own serialisation of `value` (or the error it raises, as type and text)."""
    prepare = TOPIC.prepare_key if kind == "key" else TOPIC.prepare_value
    try:
        return prepare(value, serializer)[0]
    except Exception as exc:
        return (type(exc), str(exc))


def ours(kind: str, value: Any, serializer: Any, serialise: ChangelogJson | None = None) -> Any:
    serialise = serialise or ChangelogJson(TOPIC)
    write = serialise.key if kind == "key" else serialise.value
    try:
        return write(value, serializer)
    except Exception as exc:
        return (type(exc), str(exc))


class NoChain:
    """Faust's topic with its serialisation refused: proves a write did not take Faust's chain."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def prepare_key(self, *args: Any) -> Any:
        raise AssertionError("Faust's chain taken for a plain key")

    def prepare_value(self, *args: Any) -> Any:
        raise AssertionError("Faust's chain taken for a plain value")


def plain(topic: Any) -> ChangelogJson:
    serialise = ChangelogJson(topic)
    assert serialise.encoder is not None
    serialise.topic = NoChain(topic)
    return serialise


@settings(deadline=None, max_examples=400)
@given(value=JSON, kind=st.sampled_from(["key", "value"]))
def test_a_plain_key_or_value_has_fausts_bytes_or_fausts_error_without_its_chain(value: Any, kind: str) -> None:
    theirs = faust_bytes(kind, value, "json")
    is_plain = type(value) in (changelog_json.PLAIN_KEYS if kind == "key" else changelog_json.PLAIN_VALUES)
    assert ours(kind, value, "json", plain(TOPIC) if is_plain else None) == theirs


@settings(deadline=None, max_examples=200)
@given(value=JSON.filter(lambda v: type(v) in changelog_json.PLAIN_VALUES))
def test_what_a_plain_value_is_written_as_reads_back_as_faust_reads_its_own(value: Any) -> None:
    try:
        written = ChangelogJson(TOPIC).value(value, "json")
    except (TypeError, ValueError):
        return  # refused, as Faust refuses it (the test above)
    loads = TOPIC.app.serializers.loads_value
    expected, got = loads(None, TOPIC.prepare_value(value, "json")[0]), loads(None, written)
    assert json.dumps(got, default=repr) == json.dumps(expected, default=repr)  # NaN != NaN: compare the text


@pytest.mark.parametrize(
    ("kind", "value", "serializer"),
    [
        ("value", None, "raw"),  # a tombstone
        ("value", b"raw bytes", "json"),  # bytes skip the codec
        ("value", Point(x=1), "json"),  # a Faust model serialises itself
        ("value", OrderedDict(a=1), "json"),  # a mapping type of its own
        ("value", {"a": 1}, "raw"),
        ("key", None, "json"),  # no key: no bytes, not b"null"
        ("key", b"k", "json"),
        ("key", "k", "raw"),
    ],
)
def test_anything_else_takes_fausts_path(kind: str, value: Any, serializer: str) -> None:
    serialise = plain(TOPIC)
    write = serialise.key if kind == "key" else serialise.value
    with pytest.raises(AssertionError, match="Faust's chain taken"):
        write(value, serializer)
    assert ours(kind, value, serializer) == faust_bytes(kind, value, serializer)


def test_a_circular_value_is_refused_as_faust_refuses_it() -> None:
    loop: list[Any] = []
    loop.append(loop)
    refused = faust_bytes("value", {"a": loop}, "json")
    assert refused == (ValueError, "Circular reference detected")
    assert ours("value", {"a": loop}, "json", plain(TOPIC)) == refused


def test_nan_and_big_integers_are_written_as_faust_writes_them() -> None:
    value = {"n": math.nan, "i": -math.inf, "big": 2**100, "u": uuid.UUID(int=1), "d": decimal.Decimal("1.5")}
    assert ours("value", value, "json", plain(TOPIC)) == TOPIC.prepare_value(value, "json")[0]


def test_a_faust_whose_chain_is_not_the_stock_one_keeps_its_own_path(monkeypatch: pytest.MonkeyPatch) -> None:
    class OwnTopic(type(TOPIC)):  # type: ignore[misc]  # a topic class that serialises its own way
        def prepare_value(self, value: Any, *args: Any, **kwargs: Any) -> Any:
            return b"own", None

    own = OwnTopic(TOPIC.app, topics=["own"], key_type=str)
    assert ChangelogJson(own).encoder is None
    assert ChangelogJson(own).value({"a": 1}, "json") == b"own"
    monkeypatch.setattr(changelog_json.faust_json, "orjson", object())  # Faust would write with orjson
    assert ChangelogJson(TOPIC).encoder is None
