"""Kafka Produce v7 requests and answers in compiled struct formats: aiokafka's bytes and objects, for less CPU.

aiokafka (up to v7 with today's brokers) encodes every produce request and decodes every answer through its
generic schema walk: ≈ 7 µs each for one topic, more per topic, one or two requests per event at a worker's
usual rate (its outputs, then its staged changelog record: bench/results/tbl3.md). These give the same bytes and
the same response object; anything they do not expect (a topic or batch of another type, a short buffer) goes
to aiokafka's own code, which raises its own errors. Installed with the Fetch formats (`fetch_codec.install`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from io import BytesIO
from typing import Any

from aiokafka.protocol.produce import ProduceRequest_v7, ProduceResponse_v7
from aiokafka.protocol.struct import Struct

from referral_bus.fetch_codec import _I16, _I32, _names, _string, _text

_ACKS_TIMEOUT = struct.Struct(">hi")  # required acks, timeout ms
_ANSWER_PARTITION = struct.Struct(">ihqqq")  # partition, error code, base offset, log append time, log start offset
_REQUEST_NAMES = ("transactional_id", "required_acks", "timeout", "topics")
_PARTITION_NAMES = ("partition", "messages")
_ANSWER_NAMES = ("topics", "throttle_time_ms")
_ANSWER_PARTITION_NAMES = ("partition", "error_code", "offset", "timestamp", "log_start_offset")
_BATCHES = (bytes, bytearray, memoryview)

_installed = False


def encode_request(request: Any) -> bytes:
    """The bytes of a ProduceRequest_v7 as aiokafka writes them; aiokafka's own walk for what this does not expect."""
    d = request.__dict__
    transactional_id, topics = d["transactional_id"], d["topics"]
    if not isinstance(topics, list) or not isinstance(transactional_id, str | None):
        return _aiokafka_encode(request)
    try:
        out: list[bytes | bytearray | memoryview] = [
            b"\xff\xff" if transactional_id is None else _string(str(transactional_id)),
            _ACKS_TIMEOUT.pack(d["required_acks"], d["timeout"]),
            _I32.pack(len(topics)),
        ]
        for topic, partitions in topics:
            if not isinstance(topic, str) or not isinstance(partitions, list):
                return _aiokafka_encode(request)
            out.append(_string(str(topic)))
            out.append(_I32.pack(len(partitions)))
            for partition, batch in partitions:
                if not isinstance(batch, _BATCHES):
                    return _aiokafka_encode(request)
                out.append(struct.pack(">ii", partition, len(batch)))
                out.append(batch)
    except (struct.error, TypeError, ValueError):
        return _aiokafka_encode(request)  # raises aiokafka's error for a value out of range
    return b"".join(out)


def _aiokafka_encode(request: Any) -> bytes:
    """The bytes aiokafka's own schema walk gives `request`."""
    encoded: bytes = Struct.encode(request)
    return encoded


def decode_response(data: BytesIO | bytes) -> Any:
    """A ProduceResponse_v7 as aiokafka's decode gives it (same lists and tuples); its decode on a bad buffer."""
    stream = BytesIO(data) if isinstance(data, bytes) else data
    start = stream.tell()
    try:
        fields, end = _answer(stream.getvalue(), start)
    except (struct.error, UnicodeDecodeError, ValueError):
        stream.seek(start)
        return _aiokafka_decode(stream)
    stream.seek(end)
    return ProduceResponse_v7(*fields)


def _answer(buf: bytes, at: int) -> tuple[tuple[Any, ...], int]:
    """The response's two fields read from `buf` at `at`, and the offset after them."""
    (count,) = _I32.unpack_from(buf, at)
    at += 4
    topics: list[Any] | None = None if count == -1 else []
    for _ in range(max(count, 0)):
        (length,) = _I16.unpack_from(buf, at)
        at += 2
        topic = None if length < 0 else _text(buf, at, length)
        at += max(length, 0)
        (count_p,) = _I32.unpack_from(buf, at)
        at += 4
        partitions: list[Any] | None = None if count_p == -1 else []
        for _ in range(max(count_p, 0)):
            partitions.append(_ANSWER_PARTITION.unpack_from(buf, at))  # type: ignore[union-attr]  # a list: count >= 0
            at += _ANSWER_PARTITION.size
        topics.append((topic, partitions))  # type: ignore[union-attr]  # a list: count >= 0
    (throttle,) = _I32.unpack_from(buf, at)
    return (topics, throttle), at + 4


_aiokafka_decode: Callable[[BytesIO], Any] = ProduceResponse_v7.decode


def supported() -> bool:
    """True when the installed aiokafka's Produce v7 schemas are the ones these formats were written for."""
    try:
        return (
            ProduceRequest_v7.RESPONSE_TYPE is ProduceResponse_v7
            and _names(ProduceRequest_v7.SCHEMA) == _REQUEST_NAMES
            and _names(ProduceRequest_v7.SCHEMA, "topics", "partitions") == _PARTITION_NAMES
            and _names(ProduceResponse_v7.SCHEMA) == _ANSWER_NAMES
            and _names(ProduceResponse_v7.SCHEMA, "topics", "partitions") == _ANSWER_PARTITION_NAMES
        )
    except (AttributeError, ValueError):
        return False


def install() -> bool:
    """Encode Produce v7 requests and decode their answers with these formats (idempotent); False if not supported."""
    global _installed
    if _installed:
        return True
    if not supported():
        return False
    request: Any = ProduceRequest_v7
    answer: Any = ProduceResponse_v7
    request.encode = encode_request
    answer.decode = staticmethod(decode_response)
    _installed = True
    return True
