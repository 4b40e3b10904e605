"""A consumed record's parent context: the plain W3C `traceparent` read without the SDK's propagators.

`extract` gives what `propagate.extract` gives with the default propagators (`tracecontext,baggage`)
and only then; it defers to the SDK for any other configuration (OTEL_PROPAGATORS, `set_global_textmap`)
and for any header but the plain one (version 00, lower-case hex, no extra field, no tracestate or
baggage header, bytes), so the SDK still decides every other case (tests/unit/referral_bus/test_span_parent.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PLAIN = re.compile(rb"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")  # fullmatch: no space, no extra field
_DEFAULTS = (TraceContextTextMapPropagator, W3CBaggagePropagator)  # the SDK's propagators when unset
_checked: list[Any] = [None, False]  # the global propagator last checked, and whether it is the default pair


def is_default(textmap: TextMapPropagator) -> bool:
    """True when `textmap` is the SDK's default: tracecontext then baggage, exactly those classes."""
    inner = getattr(textmap, "_propagators", None) if type(textmap) is CompositePropagator else None
    return inner is not None and tuple(type(p) for p in inner) == _DEFAULTS


def extract(headers: Any, getter: Getter[Any]) -> Context:
    """The context `propagate.extract(headers, getter=getter)` returns; the SDK's own call where not plain."""
    textmap = propagate.get_global_textmap()
    if textmap is not _checked[0]:
        _checked[:] = [textmap, is_default(textmap)]
    if not _checked[1]:
        return textmap.extract(headers, getter=getter)
    parent = None
    for name, value in headers.items() if isinstance(headers, Mapping) else headers or ():
        if name == "traceparent":
            if parent is None and value is not None:
                parent = value
        elif name == "tracestate" or name == "baggage":  # a trace state or baggage: the SDK reads them
            return textmap.extract(headers, getter=getter)
    if parent is None:
        return Context()
    match = _PLAIN.fullmatch(parent) if type(parent) is bytes else None
    if match is None:
        return textmap.extract(headers, getter=getter)
    trace_hex, span_hex, flags = match.groups()
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return Context()  # the SDK ignores an all-zero id
    context = SpanContext(trace_id, span_id, True, TraceFlags(int(flags, 16)))
    return set_span_in_context(NonRecordingSpan(context), Context())
