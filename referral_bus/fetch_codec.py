"""Kafka Fetch v11 requests and answers in compiled struct formats: aiokafka's bytes and objects, for less CPU.

Every fetch names every assigned partition (49 for intake and the notifier) and every answer lists them all,
records or not. aiokafka encodes and decodes each field through its generic schema walk: 160-215 µs per request,
220-315 µs per empty answer; these take 36 and 90 (bench/results/sock.md). They give the same
bytes and the same response object; anything they do not expect (other versions, a short
buffer) goes to aiokafka's own code, which raises its own errors.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from io import BytesIO
from typing import Any

from aiokafka.protocol.fetch import FetchRequest_v11, FetchResponse_v11
from aiokafka.protocol.struct import Struct

_HEAD = struct.Struct(">iiiibii")  # replica, max wait, min bytes, max bytes, isolation, session id, session epoch
_PARTITION = struct.Struct(">iiqqi")  # partition, leader epoch, fetch offset, log start offset, max bytes
_I32, _I16 = struct.Struct(">i"), struct.Struct(">h")
_ANSWER_HEAD = struct.Struct(">ihi")  # throttle ms, error code, session id
_ANSWER_PARTITION = struct.Struct(">ihqqqi")  # partition, error, high watermark, last stable, log start, aborted count
_ABORTED = struct.Struct(">qq")  # producer id, first offset
_REPLICA_SIZE = struct.Struct(">ii")  # preferred read replica, record bytes' length
_REQUEST_NAMES = (
    "replica_id",
    "max_wait_time",
    "min_bytes",
    "max_bytes",
    "isolation_level",
    "session_id",
    "session_epoch",
    "topics",
    "forgotten_topics_data",
    "rack_id",
)
_PARTITION_NAMES = ("partition", "current_leader_epoch", "fetch_offset", "log_start_offset", "max_bytes")
_ANSWER_NAMES = ("throttle_time_ms", "error_code", "session_id", "topics")
_ANSWER_PARTITION_NAMES = (
    "partition",
    "error_code",
    "highwater_offset",
    "last_stable_offset",
    "log_start_offset",
    "aborted_transactions",
    "preferred_read_replica",
    "message_set",
)

_installed = False
Fields = Callable[[bytes, int], tuple[tuple[Any, ...], int]]  # a response's field values read at an offset, and the end


@functools.lru_cache(maxsize=4096)
def _string(value: str) -> bytes:
    """A Kafka STRING (int16 length, UTF-8): topic names and the rack id, each encoded once."""
    data = value.encode("utf-8")
    return _I16.pack(len(data)) + data


def encode_request(request: Any) -> bytes:
    """The bytes of a FetchRequest_v11 as aiokafka writes them; aiokafka's own walk for what this does not expect."""
    d = request.__dict__
    topics, rack, forgotten = d["topics"], d["rack_id"], d["forgotten_topics_data"]
    if not isinstance(topics, list) or not isinstance(rack, str) or not isinstance(forgotten, list | None):
        return _aiokafka_encode(request)
    try:
        out = [
            _HEAD.pack(
                d["replica_id"],
                d["max_wait_time"],
                d["min_bytes"],
                d["max_bytes"],
                d["isolation_level"],
                d["session_id"],
                d["session_epoch"],
            ),
            _I32.pack(len(topics)),
        ]
        pack = _PARTITION.pack
        for topic, partitions in topics:
            if topic is None:
                return _aiokafka_encode(request)
            out.append(_string(str(topic)))
            out.append(_I32.pack(len(partitions)))
            out.extend([pack(*p) for p in partitions])
        if forgotten is None:
            out.append(b"\xff\xff\xff\xff")
        else:
            out.append(_I32.pack(len(forgotten)))
            for topic, partitions in forgotten:  # an incremental fetch's forgotten partitions (fetch_session.py)
                if topic is None or not isinstance(partitions, list):
                    return _aiokafka_encode(request)
                out.append(_string(str(topic)))
                out.append(struct.pack(f">i{len(partitions)}i", len(partitions), *partitions))
        out.append(_string(rack))
    except (struct.error, TypeError, ValueError):
        return _aiokafka_encode(request)  # raises aiokafka's error for a value out of range
    return b"".join(out)


def _aiokafka_encode(request: Any) -> bytes:
    """The bytes aiokafka's own schema walk gives `request`."""
    encoded: bytes = Struct.encode(request)
    return encoded


def decode_response(data: BytesIO | bytes) -> Any:
    """A FetchResponse_v11 as aiokafka's decode gives it (same lists, tuples and bytes); its decode on a bad buffer."""
    return read(data, _answer, FetchResponse_v11, _aiokafka_decode)


def read(data: BytesIO | bytes, fields: Fields, response: Any, fallback: Callable[[BytesIO], Any]) -> Any:
    """`response(*values)` of the values `fields` reads where `data` stands; `fallback` (aiokafka's) on a bad buffer."""
    stream = BytesIO(data) if isinstance(data, bytes) else data
    start = stream.tell()
    try:
        values, end = fields(stream.getvalue(), start)  # the frame's own bytes: BytesIO(bytes) does not copy them
    except (struct.error, UnicodeDecodeError, ValueError):
        stream.seek(start)
        return fallback(stream)
    stream.seek(end)
    return response(*values)


def _answer(buf: bytes, at: int) -> tuple[tuple[Any, ...], int]:
    """The response's four fields read from `buf` at `at`, and the offset after them."""
    throttle, error, session = _ANSWER_HEAD.unpack_from(buf, at)
    topics, at = read_topics(buf, at + _ANSWER_HEAD.size, _answer_partitions)
    return (throttle, error, session, topics), at


def _answer_partitions(buf: bytes, at: int, count: int) -> tuple[list[Any], int]:
    """A topic's `count` partitions in a Fetch answer (aborted transactions, records' bytes), and the offset after."""
    partitions = []
    for _ in range(count):
        partition, perr, high, stable, log_start, aborted_count = _ANSWER_PARTITION.unpack_from(buf, at)
        at += _ANSWER_PARTITION.size
        aborted: list[Any] | None = None if aborted_count == -1 else []
        for _ in range(max(aborted_count, 0)):
            aborted.append(_ABORTED.unpack_from(buf, at))  # type: ignore[union-attr]  # a list: count >= 0
            at += _ABORTED.size
        replica, size = _REPLICA_SIZE.unpack_from(buf, at)
        at += _REPLICA_SIZE.size
        records = None
        if size >= 0:
            records = _exactly(buf, at, size)
            at += size
        partitions.append((partition, perr, high, stable, log_start, aborted, replica, records))
    return partitions, at


Partitions = Callable[[bytes, int, int], tuple[list[Any], int]]  # a topic's N partitions read at an offset, and the end


def read_topics(buf: bytes, at: int, partitions: Partitions) -> tuple[list[Any] | None, int]:
    """An answer's ARRAY of (topic, ARRAY of partitions) from `at`, each topic's read by `partitions`; the end."""
    (count,) = _I32.unpack_from(buf, at)
    at += 4
    topics: list[Any] | None = None if count == -1 else []
    for _ in range(max(count, 0)):
        (length,) = _I16.unpack_from(buf, at)
        at += 2
        topic = None if length < 0 else _text(buf, at, length)
        at += max(length, 0)
        (count_p,) = _I32.unpack_from(buf, at)
        these, at = partitions(buf, at + 4, max(count_p, 0))
        topics.append((topic, None if count_p == -1 else these))  # type: ignore[union-attr]  # a list: count >= 0
    return topics, at


def _exactly(buf: bytes, at: int, size: int) -> bytes:
    """`size` bytes of `buf` from `at`; ValueError when the buffer ends first (aiokafka then says so itself)."""
    if at + size > len(buf):
        raise ValueError("buffer underrun")
    return buf[at : at + size]


def _text(buf: bytes, at: int, size: int) -> str:
    """A STRING's `size` UTF-8 bytes from `at`."""
    return _exactly(buf, at, size).decode("utf-8")


_aiokafka_decode: Callable[[BytesIO], Any] = FetchResponse_v11.decode


def supported() -> bool:
    """True when the installed aiokafka's Fetch v11 schemas are the ones these formats were written for."""
    names = (_REQUEST_NAMES, _PARTITION_NAMES, _ANSWER_NAMES, _ANSWER_PARTITION_NAMES)
    return schemas_are(FetchRequest_v11, FetchResponse_v11, names)


def schemas_are(request: Any, answer: Any, names: tuple[tuple[str, ...], ...]) -> bool:
    """`request` answered by `answer`, with these field names: each's, then its topics' partitions'."""
    try:
        return (
            request.RESPONSE_TYPE is answer
            and (
                _names(request.SCHEMA),
                _names(request.SCHEMA, "topics", "partitions"),
                _names(answer.SCHEMA),
                _names(answer.SCHEMA, "topics", "partitions"),
            )
            == names
        )
    except (AttributeError, ValueError):
        return False


def _names(schema: Any, *path: str) -> tuple[str, ...]:
    """The field names of `schema`, or of the array element found by following `path`'s array fields."""
    for name in path:
        schema = schema.fields[schema.names.index(name)].array_of
    return tuple(schema.names)


def install() -> bool:
    """Encode Fetch v11 requests and decode their answers with these formats (idempotent); False if not supported."""
    global _installed
    if _installed:
        return True
    if not supported():
        return False
    put(FetchRequest_v11, FetchResponse_v11, encode_request, decode_response)
    _installed = True
    return True


def put(request: Any, answer: Any, encode: Callable[[Any], bytes], decode: Callable[[BytesIO | bytes], Any]) -> None:
    """Make aiokafka's `request` class encode with `encode` and its `answer` class decode with `decode`."""
    request.encode = encode
    answer.decode = staticmethod(decode)
