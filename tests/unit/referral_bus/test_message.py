"""The worker shell's fast `source_message` builds exactly the `SourceMessage` the dataclass builds."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.message import SourceMessage, source_message

_HEADERS = st.lists(st.tuples(st.text(max_size=20), st.none() | st.binary(max_size=20)), max_size=4).map(tuple)


@given(
    st.text(max_size=40),
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**63 - 1),
    st.none() | st.binary(max_size=60),
    st.none() | st.binary(max_size=200),
    _HEADERS,
    st.none() | st.integers(0, 2**45),
    st.booleans(),
)
def test_the_same_message_as_the_dataclass(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: tuple[tuple[str, bytes | None], ...],
    timestamp_ms: int | None,
    broker_time: bool,
) -> None:
    fast = source_message(topic, partition, offset, key, value, headers, timestamp_ms, broker_time)
    built = SourceMessage(topic, partition, offset, key, value, headers, timestamp_ms, broker_time)
    assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
    assert dataclasses.asdict(fast) == dataclasses.asdict(built) and vars(fast) == vars(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.offset = offset + 1  # type: ignore[misc]  # frozen: the point of the check


def test_every_field_is_a_parameter_in_order() -> None:
    """A field added to SourceMessage must be added to `source_message` too (it sets every field)."""
    fields = [field.name for field in dataclasses.fields(SourceMessage)]
    assert list(inspect.signature(source_message).parameters) == fields
