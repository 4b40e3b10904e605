"""Kafka Produce v7 requests and answers in compiled struct formats: aiokafka's bytes and objects, for less CPU.

aiokafka (up to v7 with today's brokers) encodes every produce request and decodes every answer through its
generic schema walk: ≈ 4 µs each for one topic, 8 for three, one or two requests per event at a worker's
usual rate (its outputs, then its staged changelog record: bench/results/tbl3.md). These give the same bytes and
the same response object; anything they do not expect (a topic or batch of another type, a short buffer) goes
to aiokafka's own code, which raises its own errors. Installed by `faust_patches.install()`, beside the Fetch formats.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from io import BytesIO
from typing import Any

from aiokafka.protocol.produce import ProduceRequest_v7, ProduceResponse_v7

from referral_bus.fetch_codec import _I32, _aiokafka_encode, _string, put, read, read_topics, schemas_are

_ACKS_TIMEOUT = struct.Struct(">hi")  # required acks, timeout ms
_ANSWER_PARTITION = struct.Struct(">ihqqq")  # partition, error code, base offset, log append time, log start offset
_REQUEST_NAMES = ("transactional_id", "required_acks", "timeout", "topics")
_PARTITION_NAMES = ("partition", "messages")
_ANSWER_NAMES = ("topics", "throttle_time_ms")
_ANSWER_PARTITION_NAMES = ("partition", "error_code", "offset", "timestamp", "log_start_offset")
_BATCHES = (bytes, bytearray, memoryview)


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


def decode_response(data: BytesIO | bytes) -> Any:
    """A ProduceResponse_v7 as aiokafka's decode gives it (same lists and tuples); its decode on a bad buffer."""
    return read(data, _answer, ProduceResponse_v7, _aiokafka_decode)


def _answer(buf: bytes, at: int) -> tuple[tuple[Any, ...], int]:
    """The response's two fields read from `buf` at `at`, and the offset after them."""
    topics, at = read_topics(buf, at, _answer_partitions)
    (throttle,) = _I32.unpack_from(buf, at)
    return (topics, throttle), at + 4


def _answer_partitions(buf: bytes, at: int, count: int) -> tuple[list[Any], int]:
    size = _ANSWER_PARTITION.size
    return [_ANSWER_PARTITION.unpack_from(buf, at + i * size) for i in range(count)], at + count * size


_aiokafka_decode: Callable[[BytesIO], Any] = ProduceResponse_v7.decode


def supported() -> bool:
    """True when the installed aiokafka's Produce v7 schemas are the ones these formats were written for."""
    names = (_REQUEST_NAMES, _PARTITION_NAMES, _ANSWER_NAMES, _ANSWER_PARTITION_NAMES)
    return schemas_are(ProduceRequest_v7, ProduceResponse_v7, names)


def install() -> bool:
    """Encode Produce v7 requests and decode their answers with these formats (idempotent); False if not supported."""
    if not supported():
        return False
    put(ProduceRequest_v7, ProduceResponse_v7, encode_request, decode_response)
    return True
