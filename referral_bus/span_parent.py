"""A span's parent across Kafka: the plain W3C `traceparent` read and written without the SDK's propagators.

`extract` gives what `propagate.extract` gives, `inject` the headers `propagate.inject` writes, with the
default propagators (`tracecontext,baggage`) and only then; both defer to the SDK for any other
configuration (OTEL_PROPAGATORS, `set_global_textmap`) and for anything but the plain case (read: version
00, lower-case hex, no extra field, no tracestate or baggage header, bytes; written: a valid span
context without trace state or baggage), so the SDK still decides every other case
(tests/unit/referral_bus/test_span_parent.py). The span contexts it reads and makes (`span_context`), the
current span (`current_span`) and a span made current (`attach_span`, `detach`) skip the API's per-call layers,
with the API's results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from enum import Enum
from typing import Any, Final, NamedTuple

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState, set_span_in_context
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import DEFAULT_TRACE_STATE, INVALID_SPAN_ID, INVALID_TRACE_ID

_TRACE_ID_MAX, _SPAN_ID_MAX = 2**128 - 1, 2**64 - 1
_FLAGS = tuple(TraceFlags(n) for n in range(256))  # every TraceFlags value, made once (equal ints: the same flags)

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


def inject_child(span: trace.Span, context: Context, carrier: MutableMapping[str, str]) -> None:
    """`inject(set_span_in_context(span, context), carrier)`, that context made only where not plain."""
    value = _plain(context, len(context) + (_SPAN_KEY not in context), span)
    if value is None:
        inject(set_span_in_context(span, context), carrier)
    else:
        carrier["traceparent"] = value.decode()


def traceparent(context: Context | None) -> bytes | None:
    """The `traceparent` value `inject` writes where it is the only header (plain), as bytes; else None.

    Plain: the default propagators, a valid span context without trace state, no baggage in `context`.
    """
    return _plain(context, -1 if context is None else len(context), None)


def _plain(context: Context | None, entries: int, span: trace.Span | None) -> bytes | None:
    """`traceparent` of `context` (of `entries` entries, -1: the current one) with `span` as its span if given."""
    if not propagator().default:
        return None
    # a context of one entry holding a valid span holds no baggage: no look-up (and no mapping made) for it
    if entries != 1 and baggage.get_all(context):
        return None
    return _written((current_span(context) if span is None else span).get_span_context())


def current_span(context: Context | None = None) -> trace.Span:
    """`trace.get_current_span(context)`, its `isinstance` of the Span ABC made once per span type, not per call."""
    span: Any = (otel_context.get_current() if context is None else context).get(_SPAN_KEY)
    if type(span) in _SPAN_TYPES:
        found: trace.Span = span  # a Span, by `_SPAN_TYPES`
        return found
    if span is None or not isinstance(span, trace.Span):
        return trace.INVALID_SPAN
    if len(_SPAN_TYPES) < 64:  # a handful: ours, the API's, the SDK's
        _SPAN_TYPES.add(type(span))
    return span


_SPAN_TYPES: set[type] = set()  # types found to be Spans


def attach_span(span: trace.Span) -> Any:
    """`context.attach(set_span_in_context(span))`: its token; the current context set in one step (contextvars)."""
    runtime = otel_context._RUNTIME_CONTEXT
    if type(runtime) is not ContextVarsRuntimeContext:  # OTEL_PYTHON_CONTEXT named another: the API's calls
        return otel_context.attach(set_span_in_context(span))
    var = runtime._current_context
    return var.set(Context({**var.get(), _SPAN_KEY: span}))  # `set_value`'s copy with the span set


def detach(token: Any) -> None:
    """`context.detach(token)`: the token reset directly where it can be (else the API's call, which logs why not)."""
    runtime = otel_context._RUNTIME_CONTEXT
    if type(runtime) is not ContextVarsRuntimeContext:
        otel_context.detach(token)
        return
    try:
        runtime._current_context.reset(token)
    except Exception:  # noqa: BLE001 - a token that cannot be reset: the API's call logs it, as it always did
        otel_context.detach(token)


def _written(found: SpanContext) -> bytes | None:
    """A valid span context without trace state as its `traceparent` value; else None."""
    trace_id, span_id, _, flags, state, valid = found  # its tuple order, without its properties
    if not valid or (state is not DEFAULT_TRACE_STATE and state):
        return None
    return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}".encode()  # valid: ids fit; cheaper than bytes' %


_PAIRS = frozenset((list, tuple))  # header pairs as a worker's records hold them (a tuple): no Mapping check


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
    for name, value in (
        headers if type(headers) in _PAIRS else headers.items() if isinstance(headers, Mapping) else headers or ()
    ):
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
    # SpanContext's own fields in its tuple order, without its Python `__new__`: 32 and 16 digits, not zero: valid
    return tuple.__new__(SpanContext, (trace_id, span_id, True, _FLAGS[int(flags, 16)], DEFAULT_TRACE_STATE, True))


def span_context(trace_id: int, span_id: int, remote: bool, flags: int, state: TraceState | None) -> SpanContext:
    """`SpanContext(trace_id, span_id, remote, TraceFlags(flags), state)` without its Python `__new__` (flags < 256)."""
    valid = INVALID_TRACE_ID < trace_id <= _TRACE_ID_MAX and INVALID_SPAN_ID < span_id <= _SPAN_ID_MAX
    state = DEFAULT_TRACE_STATE if state is None else state
    return tuple.__new__(SpanContext, (trace_id, span_id, remote, _FLAGS[flags], state, valid))  # its tuple order


def extract(headers: Any, getter: Getter[Any]) -> Context:
    """The context `propagate.extract(headers, getter=getter)` returns; the SDK's own call where not plain."""
    found = plain_parent(headers)
    if found is OTHER:
        return propagator().textmap.extract(headers, getter=getter)
    return Context() if found is None else set_span_in_context(NonRecordingSpan(found), Context())
