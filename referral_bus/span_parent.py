"""A span's parent across Kafka: the plain W3C `traceparent` read and written without the SDK's propagators.

`extract` gives what `propagate.extract` gives, `inject` the headers `propagate.inject` writes, with the
default propagators (`tracecontext,baggage`) and only then; both defer to the SDK for any other
configuration (OTEL_PROPAGATORS, `set_global_textmap`) and for anything but the plain case (read: version
00, lower-case hex, no extra field, no tracestate or baggage header, bytes; written: a valid span
context without trace state or baggage), so the SDK still decides every other case
(tests/unit/referral_bus/test_span_parent.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from enum import Enum
from typing import Any, Final, NamedTuple

from opentelemetry import baggage, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PLAIN = re.compile(rb"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")  # fullmatch: no space, no extra field
_DEFAULTS = (TraceContextTextMapPropagator, W3CBaggagePropagator)  # the SDK's propagators when unset


class _Propagator(NamedTuple):
    """The global propagator, whether it is the SDK's default pair, and the header names it writes."""

    textmap: TextMapPropagator
    default: bool
    fields: frozenset[str]


_checked = _Propagator(CompositePropagator([]), False, frozenset())  # the global propagator last seen


def is_default(textmap: TextMapPropagator) -> bool:
    """True when `textmap` is the SDK's default: tracecontext then baggage, exactly those classes."""
    inner = getattr(textmap, "_propagators", None) if type(textmap) is CompositePropagator else None
    return inner is not None and tuple(type(p) for p in inner) == _DEFAULTS


def propagator() -> _Propagator:
    """The global propagator, checked once per propagator object (`set_global_textmap` makes a new one)."""
    global _checked
    textmap = propagate.get_global_textmap()
    if textmap is not _checked.textmap:
        _checked = _Propagator(textmap, is_default(textmap), frozenset(textmap.fields))
    return _checked


def inject(context: Context, carrier: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """`propagate.inject(carrier, context=context)`, the SDK's own call where not plain; the carrier (new if None)."""
    carrier = {} if carrier is None else carrier
    value = traceparent(context)
    if value is not None:
        carrier["traceparent"] = value.decode()
        return carrier
    propagator().textmap.inject(carrier, context=context)
    return carrier


def traceparent(context: Context | None) -> bytes | None:
    """The `traceparent` value `inject` writes where it is the only header (plain), as bytes; else None.

    Plain: the default propagators, a valid span context without trace state, no baggage in `context`.
    """
    if not propagator().default:
        return None
    found = trace.get_current_span(context).get_span_context()
    if not found.is_valid or found.trace_state:
        return None
    # a context of one entry holding a valid span holds no baggage: no look-up (and no mapping made) for it
    if (context is None or len(context) != 1) and baggage.get_all(context):
        return None
    return b"00-%032x-%016x-%02x" % (found.trace_id, found.span_id, found.trace_flags)  # valid: ids fit


class _Read(Enum):
    """`plain_parent`'s answer where the SDK's propagators must read the headers."""

    BY_THE_SDK = "by the SDK"


OTHER: Final = _Read.BY_THE_SDK


def plain_parent(headers: Any) -> SpanContext | _Read | None:
    """The remote parent a plain `traceparent` names (None: no parent); `OTHER` for the SDK to read.

    `OTHER` unless the propagators are the default pair and the headers are plain (above); what `extract` builds its
    context from, and the process span's parent as is (span_keys: no context made only to be read back).
    """
    if not propagator().default:
        return OTHER
    parent = None
    for name, value in headers.items() if isinstance(headers, Mapping) else headers or ():
        if name == "traceparent":
            if parent is None and value is not None:
                parent = value
        elif name == "tracestate" or name == "baggage":  # a trace state or baggage: the SDK reads them
            return OTHER
    if parent is None:
        return None
    match = _PLAIN.fullmatch(parent) if type(parent) is bytes else None
    if match is None:
        return OTHER
    trace_hex, span_hex, flags = match.groups()
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None  # the SDK ignores an all-zero id
    return SpanContext(trace_id, span_id, True, TraceFlags(int(flags, 16)))


def extract(headers: Any, getter: Getter[Any]) -> Context:
    """The context `propagate.extract(headers, getter=getter)` returns; the SDK's own call where not plain."""
    found = plain_parent(headers)
    if found is OTHER:
        return propagator().textmap.extract(headers, getter=getter)
    return Context() if found is None else set_span_in_context(NonRecordingSpan(found), Context())
