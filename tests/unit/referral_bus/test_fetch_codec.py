"""Fetch v11 in compiled formats (referral_bus/fetch_codec.py): aiokafka's bytes and objects, for every input."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from aiokafka.protocol.fetch import FetchRequest, FetchRequest_v11, FetchResponse_v11
from aiokafka.protocol.struct import Struct
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus import faust_patches, fetch_codec

i8 = st.integers(-(2**7), 2**7 - 1)
i16 = st.integers(-(2**15), 2**15 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
names = st.text(max_size=12)
partition = st.tuples(i32, i32, i64, i64, i32)
requests = st.builds(
    FetchRequest_v11,
    i32,
    i32,
    i32,
    i32,
    i8,
    i32,
    i32,
    st.lists(st.tuples(st.one_of(names, st.none()), st.one_of(st.lists(partition, max_size=5), st.none())), max_size=6),
    st.one_of(st.just([]), st.none(), st.lists(st.tuples(names, st.lists(i32, max_size=3)), max_size=2)),
    st.one_of(names, st.none()),
)
answer_partition = st.tuples(
    i32,
    i16,
    i64,
    i64,
    i64,
    st.one_of(st.none(), st.lists(st.tuples(i64, i64), max_size=3)),
    i32,
    st.one_of(st.none(), st.binary(max_size=40)),
)
answers = st.builds(
    FetchResponse_v11,
    i32,
    i16,
    i32,
    st.one_of(
        st.none(),
        st.lists(st.tuples(st.one_of(names, st.none()), st.one_of(st.none(), st.lists(answer_partition, max_size=4)))),
    ),
)


def fields(response: Any) -> dict[str, Any]:
    """A response's fields, for comparing two decodes."""
    return {name: getattr(response, name) for name in FetchResponse_v11.SCHEMA.names}


@settings(max_examples=300, deadline=None)
@given(requests)
def test_a_request_is_encoded_to_aiokafkas_bytes(request: Any) -> None:
    """Same bytes as aiokafka's schema walk, forgotten topics and null names (its own path) included."""
    try:
        expected = Struct.encode(request)
    except (ValueError, TypeError) as refused:
        with pytest.raises(type(refused)):
            fetch_codec.encode_request(request)
        return
    assert fetch_codec.encode_request(request) == expected


@settings(max_examples=300, deadline=None)
@given(answers, st.binary(max_size=3))
def test_an_answer_is_decoded_to_aiokafkas_object(answer: Any, before: bytes) -> None:
    """Same topics, partitions, aborted transactions and record bytes, read from where the stream stands."""
    raw = Struct.encode(answer)
    ours, theirs = BytesIO(before + raw), BytesIO(before + raw)
    ours.seek(len(before))
    theirs.seek(len(before))
    assert fields(fetch_codec.decode_response(ours)) == fields(fetch_codec._aiokafka_decode(theirs))
    assert ours.tell() == theirs.tell() == len(before) + len(raw)
    assert fields(fetch_codec.decode_response(raw)) == fields(answer)


@settings(max_examples=200, deadline=None)
@given(answers, st.data())
def test_a_short_answer_raises_aiokafkas_error(answer: Any, data: st.DataObject) -> None:
    """A buffer that ends early is aiokafka's to refuse (ValueError), never a partial response."""
    raw = Struct.encode(answer)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(ValueError):
        fetch_codec.decode_response(raw[:cut])


def test_the_fetcher_request_as_a_worker_sends_it() -> None:
    """aiokafka's FetchRequest built for a broker that speaks v11, as its fetcher makes it, gives the same bytes."""
    topics = [(f"referrals.intake.agency-{i}.v1", [(p, 1000 + p, 2_097_152) for p in range(4)]) for i in range(12)]
    built = FetchRequest(1500, 1, 52_428_800, 0, topics).prepare({1: (4, 17)})
    assert isinstance(built, FetchRequest_v11)
    assert fetch_codec.encode_request(built) == Struct.encode(built)


def test_the_workers_patches_install_it() -> None:
    """Each worker's `faust_patches.install()` puts these formats in aiokafka's Fetch v11 classes."""
    faust_patches.install()
    assert fetch_codec.supported()
    assert FetchRequest_v11.encode is fetch_codec.encode_request
    assert FetchResponse_v11.decode is fetch_codec.decode_response
