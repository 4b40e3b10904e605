"""OTLP trace export requests written straight to protobuf bytes: the same message, about five times cheaper.

The SDK's exporters build a Python protobuf object per span, attribute and value before
serialising (≈ 50 µs a span on the benchmark machine, most of what an exported span costs a
worker). `encode_request` writes the identical `ExportTraceServiceRequest` bytes directly;
a span with events or links (none of ours have any) goes through the SDK's own encoder.
`tests/unit/referral_bus/test_span_encoding.py` proves the bytes decode to the message the
SDK would have sent, for generated spans of every attribute type. Lean spans are written when they end, on the
thread that ends them (`EncodedSpan`), where our exporter is the provider's only one (`ended_span_queue`): the
export thread then only joins bytes, so it holds the GIL the event loop needs for a fraction of what encoding took.
"""

from __future__ import annotations

import struct
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

_Q = struct.Struct("<Q")
_D = struct.Struct("<d")
_I = struct.Struct("<I")
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200  # SpanFlags


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64: two's complement, ten bytes
    if n < 0x80:
        return bytes((n,))
    if n < 0x10000000:  # two to four bytes (lengths, offsets): no loop
        if n < 0x4000:
            return bytes((n & 0x7F | 0x80, n >> 7))
        if n < 0x200000:
            return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14))
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14 & 0x7F | 0x80, n >> 21))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes, message)."""
    n = len(payload)
    return _TAGS[number] + (bytes((n,)) if n < 0x80 else _varint(n)) + payload


_TAGS = {number: _varint(number << 3 | 2) for number in range(1, 16)}


def _value(value: Any) -> bytes:
    """An AnyValue message."""
    kind = type(value)  # the exact types attributes have once cleaned first, then the general case
    if kind is str:
        return _field(1, value.encode())
    if kind is int:
        return b"\x18" + _varint(value)
    if kind is tuple:
        return _field(5, b"".join([_field(1, _value(v)) for v in value]))
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _field(1, value.encode())
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _D.pack(value)
    if isinstance(value, bytes):
        return _field(7, value)
    if isinstance(value, Sequence):
        return _field(5, b"".join(_field(1, _value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(6, b"".join(_field(1, _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"an attribute value of type {type(value).__name__} cannot be exported")


def _key_value(key: str, value: Any) -> bytes:
    return _key(key) + _field(2, _value(value))


def _direct(number: int, key: str, value: Any) -> bytes:
    """`_field(number, _key_value(key, value))` with an int or str value written inline (a value not memoised)."""
    kind = type(value)
    if kind is int:
        any_value = b"\x18" + _varint(value)
    elif kind is str:
        text = value.encode()
        n = len(text)
        any_value = b"\x0a" + (bytes((n,)) if n < 0x80 else _varint(n)) + text
    else:
        any_value = _value(value)
    n = len(any_value)
    key_value = _key(key) + b"\x12" + (bytes((n,)) if n < 0x80 else _varint(n)) + any_value
    n = len(key_value)
    return _TAGS[number] + (bytes((n,)) if n < 0x80 else _varint(n)) + key_value


def _key(key: str) -> bytes:
    """A KeyValue's key field, made once per key name (bounded)."""
    return _keys.get(key) or _text_field(_keys, 1, key)


def _text_field(memo: dict[str, bytes], number: int, text: str) -> bytes:
    """Field `number` of `text`, kept in `memo` (emptied when full)."""
    encoded = _field(number, text.encode())
    if len(memo) >= _SEEN_MAX:
        memo.clear()
    memo[text] = encoded
    return encoded


_keys: dict[str, bytes] = {}
# Attribute fields already encoded, by (field number, key, type, value): the same topic, group or system name
# recurs on every span. Bounded: emptied when full. A key whose values keep missing (an offset, a case id: they
# never recur) is no longer looked up or kept (`_churning`), so it neither pays for the memo nor empties it.
_seen: dict[tuple[int, str, type, Any], bytes] = {}
_SEEN_MAX = 4096
_misses: dict[tuple[int, str], int] = {}  # per (field number, key) since `_seen` was last emptied
_churning: set[tuple[int, str]] = set()
_CHURN = 256  # misses of one key between two emptyings after which its values are taken as never recurring
_MEMO_TYPES = frozenset((str, int, bool))  # not floats: -0.0 == 0.0
# Per key, the value object last written through `_seen` and its field: a process span's fixed attributes are the
# same objects on every span of a partition, so they are found by identity (no tuple made, no value hashed).
_last: dict[str, tuple[int, Any, bytes]] = {}
_CHURNED: Any = object()  # `_last`'s value for a churning key (in `_churning`): no memo look-up for its values


def _attributes(number: int, attributes: Mapping[str, Any] | None) -> bytes:
    out: list[bytes] = []
    _write_attributes(out, number, attributes)
    return b"".join(out)


def _write_attributes(out: list[bytes], number: int, attributes: Mapping[str, Any] | None) -> None:
    """Each attribute's KeyValue field `number`, appended to `out` (the memo above)."""
    for k, v in (attributes or {}).items():
        last = _last.get(k)
        if last is not None and last[0] == number:
            if last[1] is v:  # that very (immutable) value: that field
                out.append(last[2])
                continue
            if last[1] is _CHURNED:  # a key whose values never recur, known as such without a look-up
                out.append(_direct(number, k, v))
                continue
        kind = type(v)
        where = (number, k)
        if where in _churning:
            if len(_last) >= _SEEN_MAX:
                _last.clear()
            _last[k] = (number, _CHURNED, b"")
            out.append(_direct(number, k, v))
            continue
        if not (kind in _MEMO_TYPES or (kind is tuple and all(type(x) is str for x in v))):  # tuples of text: rule ids
            out.append(_direct(number, k, v))
            continue
        memo = (number, k, kind, v)
        encoded = _seen.get(memo)
        if encoded is None:
            encoded = _field(number, _key_value(k, v))
            if len(_seen) >= _SEEN_MAX:
                _seen.clear()
                _misses.clear()
                _last.clear()
            _seen[memo] = encoded
            misses = _misses.get(where, 0) + 1
            _misses[where] = misses
            if misses > _CHURN and len(_churning) < _SEEN_MAX:
                _churning.add(where)
        if len(_last) >= _SEEN_MAX:
            _last.clear()
        _last[k] = (number, v, encoded)
        out.append(encoded)


# Fixed-size fields with their tags: trace id (1), span id (2), parent span id (4), start and end time (7, 8).
_IDS = struct.Struct("<2s16s2s8s")
_PARENT = struct.Struct("<2s8s")
_ROOT = struct.Struct(">2sQQ2sQ")  # the same fields, ids as big-endian halves (no `to_bytes` per id)
_CHILD = struct.Struct(">2sQQ2sQ2sQ")  # and the parent span id (4)
_LOW = (1 << 64) - 1
_names: dict[str, bytes] = {}  # a span name's field (5), made once per name (bounded)
UNSET_STATUS = Status(StatusCode.UNSET)  # a lean span's status until one is set: no status read for it
_TIMES = struct.Struct("<BQBQ")
_KINDS = {kind: b"\x30" + _varint(kind + 1) for kind in range(8)}  # SDK kinds start at 0, OTLP's at 1 (0: unspecified)
_NO_STATUS = _field(15, b"")
_UNSET = StatusCode.UNSET
_FLAGS = {remote: b"\x85\x01" + _I.pack(_HAS_IS_REMOTE | (_IS_REMOTE if remote else 0)) for remote in (False, True)}


def _span(span: Any) -> bytes:
    """One Span message (the SDK's encoder for the rare span with events or links)."""
    if span.events or span.links:
        from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import _encode_span

        return bytes(_encode_span(span).SerializeToString())
    return span_message(
        span.name,
        span.get_span_context(),
        span.parent,
        span.kind,
        span.start_time,
        span.end_time,
        span.attributes,
        span.dropped_attributes,
        span.status,
    )


def span_message(
    name: str,
    ctx: Any,
    parent: Any,
    kind: Any,
    start_time: int | None,
    end_time: int | None,
    attributes: Mapping[str, Any] | None,
    dropped_attributes: int,
    status: Any,
) -> bytes:
    """The Span message of a span without events or links, from its fields (span contexts read as their tuples)."""
    trace_id, span_id, _, _, state, _ = ctx  # SpanContext's fields in its tuple order, without its properties
    if state is not DEFAULT_TRACE_STATE and state:
        out = [_IDS.pack(b"\x0a\x10", trace_id.to_bytes(16, "big"), b"\x12\x08", span_id.to_bytes(8, "big"))]
        out.append(_field(3, ",".join(f"{k}={v}" for k, v in state.items()).encode()))
        if parent is not None:
            out.append(_PARENT.pack(b"\x22\x08", parent[1].to_bytes(8, "big")))
    elif parent is not None:  # the ids and the parent's in one pack
        out = [_CHILD.pack(b"\x0a\x10", trace_id >> 64, trace_id & _LOW, b"\x12\x08", span_id, b"\x22\x08", parent[1])]
    else:
        out = [_ROOT.pack(b"\x0a\x10", trace_id >> 64, trace_id & _LOW, b"\x12\x08", span_id)]
    out.append(_names.get(name) or _text_field(_names, 5, name))
    out.append(_KINDS.get(kind._value_) or b"\x30" + _varint(kind._value_ + 1))  # `.value`, without its descriptor
    out.append(_TIMES.pack(0x39, start_time or 0, 0x41, end_time or 0))
    _write_attributes(out, 9, attributes)
    if dropped_attributes:
        out.append(b"\x50" + _varint(dropped_attributes))
    if status is UNSET_STATUS:  # a lean span's status until one is set
        out.append(_NO_STATUS)
    else:
        code, description = status.status_code, status.description
        if code is _UNSET and not description:
            out.append(_NO_STATUS)
        else:
            body = _field(2, description.encode()) if description else b""
            if code._value_:
                body += b"\x18" + _varint(code._value_)
            out.append(_field(15, body))
    out.append(_FLAGS[parent is not None and parent[2]])  # is_remote
    return b"".join(out)


class EncodedSpan:
    """An ended span already written as its OTLP Span message, with what the batch processor and grouping read."""

    __slots__ = ("context", "encoded", "instrumentation_scope", "resource")

    def __init__(self, context: Any, resource: Any, scope: Any, message: bytes) -> None:
        self.context, self.resource, self.instrumentation_scope = context, resource, scope
        self.encoded = _field(2, message)  # as a ScopeSpans field


_ENCODERS: weakref.WeakSet[Any] = weakref.WeakSet()  # the exporters whose requests `encode_request` writes


def encodes_with_us(exporter: Any) -> None:
    """Mark an OTLP exporter whose module encodes with `encode_request` (tracing._fast_encoding)."""
    _ENCODERS.add(exporter)


def ended_span_queue(processors: Any) -> Any:
    """Where a provider's span processors (its `_active_span_processor`) are one batch processor, ours: its queue.

    Only then may a span be handed over as an `EncodedSpan` (any other processor or exporter reads ReadableSpans:
    None). The queue is the batch processor's `emit`, what its `on_end` calls: a span handed to it directly skips
    the two calls on the way (the provider's processor list, `on_end`); the caller keeps `on_end`'s one test (sampled).
    """
    try:
        (only,) = processors._span_processors
        ours = type(only) is BatchSpanProcessor and only._batch_processor._exporter in _ENCODERS
        return only._batch_processor.emit if ours else None
    except Exception:  # noqa: BLE001 - another SDK's internals: the SDK's ReadableSpans, as before
        return None


def _scope(scope: Any) -> bytes:
    if scope is None:
        return b""
    out = _field(1, scope.name.encode()) if scope.name else b""
    if scope.version:
        out += _field(2, scope.version.encode())
    return out + _attributes(3, scope.attributes)


def encode_request(spans: Sequence[Any]) -> bytes:
    """The serialised ExportTraceServiceRequest for `spans` (ReadableSpans, EncodedSpans), by resource and scope.

    Resources are told apart by identity, then equality, never by hash: a Resource hashes by JSON-dumping its
    attributes (≈ 30 µs), which per span was most of an export's cost (docs/performance.md, "Tracing").
    """
    first: dict[int, int] = {}  # id(resource) → id of the first equal resource in this request
    grouped: dict[int, tuple[Any, dict[Any, list[bytes]]]] = {}
    for span in spans:
        scope = span.instrumentation_scope or None
        resource = span.resource
        key = first.get(id(resource))
        if key is None:
            key = next((k for k, (seen, _) in grouped.items() if seen == resource), id(resource))
            first[id(resource)] = key
            grouped.setdefault(key, (resource, {}))
        encoded = span.encoded if type(span) is EncodedSpan else _field(2, _span(span))
        grouped[key][1].setdefault(scope, []).append(encoded)
    out = []
    for resource, scopes in grouped.values():
        body = _field(1, _attributes(1, resource.attributes))
        for scope, messages in scopes.items():
            scope_spans = _field(1, _scope(scope)) + b"".join(messages)
            if scope is not None and scope.schema_url:
                scope_spans += _field(3, scope.schema_url.encode())
            body += _field(2, scope_spans)
        if resource.schema_url:
            body += _field(3, resource.schema_url.encode())
        out.append(_field(1, body))
    return b"".join(out)
