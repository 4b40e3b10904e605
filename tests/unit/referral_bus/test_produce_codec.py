"""Produce v7 in compiled formats (referral_bus/produce_codec.py): aiokafka's bytes and objects, for every input."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from aiokafka.protocol.produce import ProduceRequest, ProduceRequest_v7, ProduceResponse_v7
from aiokafka.protocol.struct import Struct
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus import faust_patches, produce_codec

i16 = st.integers(-(2**15), 2**15 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
wide = st.integers(-(2**40), 2**40)  # out of range for int16/int32 fields: aiokafka's error
names = st.text(max_size=12)
batch = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=40).map(bytearray),
    st.binary(max_size=40).map(memoryview),
    st.none(),
)
requests = st.builds(
    ProduceRequest_v7,
    st.one_of(st.none(), names),
    st.one_of(i16, wide),
    st.one_of(i32, wide),
    st.one_of(
        st.lists(
            st.tuples(
                st.one_of(names, st.none()),
                st.one_of(st.lists(st.tuples(st.one_of(i32, wide), batch), max_size=4), st.none()),
            ),
            max_size=4,
        ),
        st.none(),
    ),
)
answers = st.builds(
    ProduceResponse_v7,
    st.one_of(
        st.none(),
        st.lists(
            st.tuples(
                st.one_of(names, st.none()),
                st.one_of(st.none(), st.lists(st.tuples(i32, i16, i64, i64, i64), max_size=4)),
            ),
            max_size=4,
        ),
    ),
    i32,
)


def fields(response: Any) -> dict[str, Any]:
    """A response's fields, for comparing two decodes."""
    return {name: getattr(response, name) for name in ProduceResponse_v7.SCHEMA.names}


@settings(max_examples=400, deadline=None)
@given(requests)
def test_a_request_is_encoded_to_aiokafkas_bytes(request: Any) -> None:
    """Same bytes as aiokafka's schema walk (bytes, bytearray, memoryview batches); its error where it refuses."""
    try:
        expected = Struct.encode(request)
    except Exception as refused:
        with pytest.raises(type(refused)):
            produce_codec.encode_request(request)
        return
    assert produce_codec.encode_request(request) == expected


@settings(max_examples=300, deadline=None)
@given(answers, st.binary(max_size=3))
def test_an_answer_is_decoded_to_aiokafkas_object(answer: Any, before: bytes) -> None:
    """Same topics and partitions, read from where the stream stands, the stream left where aiokafka leaves it."""
    raw = Struct.encode(answer)
    ours, theirs = BytesIO(before + raw + b"\x00"), BytesIO(before + raw + b"\x00")
    ours.seek(len(before))
    theirs.seek(len(before))
    assert fields(produce_codec.decode_response(ours)) == fields(produce_codec._aiokafka_decode(theirs))
    assert ours.tell() == theirs.tell() == len(before) + len(raw)
    assert fields(produce_codec.decode_response(raw)) == fields(answer)


@settings(max_examples=200, deadline=None)
@given(answers, st.data())
def test_a_short_answer_raises_aiokafkas_error(answer: Any, data: st.DataObject) -> None:
    """A buffer that ends early is aiokafka's to refuse, never a partial response."""
    raw = Struct.encode(answer)
    cut = data.draw(st.integers(0, len(raw) - 1))
    try:
        produce_codec._aiokafka_decode(BytesIO(raw[:cut]))
    except Exception as refused:
        with pytest.raises(type(refused)):
            produce_codec.decode_response(raw[:cut])
    else:
        pytest.fail("aiokafka decoded a short answer")


def test_the_senders_request_as_a_worker_sends_it() -> None:
    """aiokafka's ProduceRequest built for a broker that speaks v3–v12, as its sender makes it, gives the same bytes."""
    topics = [(f"referrals.topic-{i}.v1", [(p, bytearray(b"batch" * (p + 1))) for p in range(3)]) for i in range(3)]
    built = ProduceRequest(None, -1, 40_000, topics).prepare({0: (3, 12)})
    assert isinstance(built, ProduceRequest_v7)
    assert produce_codec.encode_request(built) == Struct.encode(built)


def test_the_workers_patches_install_it() -> None:
    """Each worker's `faust_patches.install()` puts these formats in aiokafka's Produce v7 classes."""
    faust_patches.install()
    assert produce_codec.supported()
    assert ProduceRequest_v7.encode is produce_codec.encode_request
    assert ProduceResponse_v7.decode is produce_codec.decode_response
