"""Cheap spans for the hot path: each event's process span and each record's send span, for the SDK's exporter.

The SDK's own span costs ≈ 60 µs to open and end on the benchmark machine (locks, bounded attribute,
event and link containers, its self-metrics, a read-only copy at the end), and Faust's sensor asks the
provider for a tracer on every event (≈ 20 µs). `LeanTracer` makes the same spans with the provider's
sampler, id generator, resource and span processor (so the same queue, exporter and encoder) and a
plain attribute dict, cleaned as the SDK cleans it: ≈ 20 µs. The limit on the number of attributes does not
apply (ours carry a dozen identifiers at most); the one on a value's length does. Where our OTLP exporter is the
provider's only one, an ended span goes to its queue already written (`span_encoding.EncodedSpan`).
Telemetry never raises: a span that cannot be handed to the processor is dropped (logged at DEBUG).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import _clean_attribute_value as clean  # the SDK's own cleaning
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from referral_bus.span_encoding import UNSET_STATUS, EncodedSpan, ended_span_queue, span_message
from referral_bus.span_parent import current_span, span_context

log = logging.getLogger(__name__)
_SCALAR_TYPES = frozenset((str, bool, int, float))  # exact types: kept as they are, one set lookup
_TEXTS = frozenset((list, tuple))  # of str only: the SDK cleans each element, which keeps a str as it is
_UNSET = UNSET_STATUS  # the span encoder writes it without reading it
_SAMPLED, _RANDOM_ID, _SAMPLE = TraceFlags.SAMPLED, TraceFlags.RANDOM_TRACE_ID, Decision.RECORD_AND_SAMPLE
_LOW_64 = TraceIdRatioBased.TRACE_ID_LIMIT  # the trace id bits TraceIdRatioBased decides on


def _clean_into(out: dict[str, Any], attributes: Mapping[str, Any], max_length: int | None) -> dict[str, Any]:
    """`attributes` into `out` as the SDK keeps them (sequences as tuples, strings cut, bad keys dropped), no copy."""
    for key, value in attributes.items():
        if key and type(key) is str:
            if max_length is None and type(value) in _SCALAR_TYPES and key not in out:
                out[key] = value  # `_set`'s first case, inline: a new key, kept as it is (a span's first attributes)
            else:
                _set(out, key, value, max_length)
    return out


def kept_as_is(attributes: Mapping[str, Any]) -> bool:
    """True when the SDK's cleaning keeps `attributes` as they are, no length limit set: text keys, scalar values."""
    return all(key and type(key) is str and type(value) in _SCALAR_TYPES for key, value in attributes.items())


def _set(out: dict[str, Any], key: str, value: Any, max_length: int | None) -> None:
    """One attribute (a valid key) as the SDK keeps it; a list or tuple of text: the tuple the SDK's cleaning makes."""
    kind = type(value)
    if max_length is None and kind in _SCALAR_TYPES and key not in out:
        out[key] = value  # a new key kept as it is: nothing to move
        return
    out.pop(key, None)  # a key set again moves to the end, as in the SDK's BoundedAttributes
    if max_length is None and kind in _SCALAR_TYPES:
        out[key] = value
    elif max_length is None and kind in _TEXTS and all(type(x) is str for x in value):
        out[key] = tuple(value)  # what the SDK's cleaning makes of it, element by element
    else:
        out[key] = clean(value, max_length)


_EVERY_ROOT = 1 << 64  # a bound above every trace id's low 64 bits: ALWAYS_ON as a root sampler
_PARENT_BASED = (ParentBased, ParentBasedTraceIdRatio)  # their decision is ParentBased.should_sample's
_CHILDREN = (ALWAYS_ON, ALWAYS_OFF, ALWAYS_ON, ALWAYS_OFF)  # follow the parent's flag, remote or local


def root_bound(sampler: Sampler) -> int | None:
    """The bound a root's trace id (low 64 bits) is sampled below, where we decide as `sampler` without its calls.

    For `parentbased_always_on` (the default: every root) and `parentbased_traceidratio` (TraceIdRatioBased's
    own bound): a child follows its parent's sampled flag, a root is sampled below the bound. None for any
    other sampler: the SDK's `should_sample` decides.
    """
    if type(sampler) not in _PARENT_BASED:
        return None
    based: Any = sampler
    children = (
        based._remote_parent_sampled,
        based._remote_parent_not_sampled,
        based._local_parent_sampled,
        based._local_parent_not_sampled,
    )
    if children != _CHILDREN:
        return None
    root = based._root
    if root is ALWAYS_ON:
        return _EVERY_ROOT
    bound: int | None = root.bound if type(root) is TraceIdRatioBased else None
    return bound


def is_parent_based_on(sampler: Sampler) -> bool:
    """True for the SDK's default sampler (`parentbased_always_on`): follow a parent's flag, sample a root."""
    return root_bound(sampler) == _EVERY_ROOT


class LeanSpan(trace.Span):
    """A recording span with a plain attribute dict; ended, it goes to the span processor as a ReadableSpan."""

    def __init__(
        self,
        tracer: LeanTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """`attributes`: a dict the span keeps as its own, already cleaned (else none yet)."""
        self._tracer, self._name, self._context, self._parent, self._kind = tracer, name, context, parent, kind
        self._attributes: dict[str, Any] = {} if attributes is None else attributes
        self._events: Sequence[Event] = ()  # a list once one is added: none made for the spans that have none
        self._links: Sequence[Link] = ()
        self._status = _UNSET
        self._start_time = time.time_ns()
        self._end_time: int | None = None

    def get_span_context(self) -> SpanContext:
        """The span's ids and flags."""
        return self._context

    def is_recording(self) -> bool:
        """True until ended."""
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        """One attribute, cleaned as the SDK does (ignored once ended)."""
        if self._end_time is None and key and type(key) is str:
            _set(self._attributes, key, value, self._tracer.max_length)

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        """Attributes, cleaned as the SDK does (ignored once ended)."""
        if self._end_time is None:
            _clean_into(self._attributes, attributes, self._tracer.max_length)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        """An event (the SDK encodes a span that has any)."""
        if self._end_time is None:
            event = Event(name, _clean_into({}, attributes or {}, self._tracer.max_length), timestamp)
            self._events = [*self._events, event]

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """A link to another valid span."""
        if self._end_time is None and context.is_valid:
            self._links = [*self._links, Link(context, attributes)]

    def update_name(self, name: str) -> None:
        """A new name (ignored once ended)."""
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK: OK is final, UNSET is ignored."""
        new = status if isinstance(status, Status) else Status(status, description)
        if self._end_time is None and self._status.status_code is not StatusCode.OK:
            if new.status_code is not StatusCode.UNSET:
                self._status = new

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """An `exception` event with the exception's type only: its message may quote data."""
        self.add_event("exception", {**(attributes or {}), "exception.type": type(exception).__name__}, timestamp)

    def end(self, end_time: int | None = None) -> None:
        """Ended once: handed to the span processor, written as its OTLP message where ours exports (else readable)."""
        if self._end_time is not None:
            return
        self._end_time = end_time if end_time is not None else time.time_ns()
        try:
            tracer = self._tracer
            queue = tracer.written_to()
            if queue is not None and not self._events and not self._links:
                message = span_message(
                    self._name,
                    self._context,
                    self._parent,
                    self._kind,
                    self._start_time,
                    self._end_time,
                    self._attributes,
                    0,
                    self._status,
                )
                # the processor reads its context, our encoder the rest: no ReadableSpan, no encoding in its thread
                if self._context[3] & _SAMPLED:  # sampled: what BatchSpanProcessor.on_end asks before it queues a span
                    queue(EncodedSpan(self._context, tracer.resource, tracer.scope, message))
                return
            tracer.processor.on_end(
                ReadableSpan(
                    name=self._name,
                    context=self._context,
                    parent=self._parent,
                    resource=tracer.resource,
                    attributes=self._attributes,
                    events=self._events,
                    links=self._links,
                    kind=self._kind,
                    status=self._status,
                    start_time=self._start_time,
                    end_time=self._end_time,
                    instrumentation_scope=tracer.scope,
                )
            )
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the work it observes
            log.debug("span dropped: %s", type(exc).__name__)


class LeanTracer(trace.Tracer):
    """A tracer of `LeanSpan`s over an SDK provider: its sampler, ids, resource and processor."""

    def __init__(self, provider: TracerProvider, name: str) -> None:
        self.processor = provider._active_span_processor  # the one the SDK's own spans end in
        self.resource = provider.resource
        self.sampler = provider.sampler
        self.ids = provider.id_generator
        self.scope = InstrumentationScope(name)
        self.max_length = provider._span_limits.max_span_attribute_length  # OTEL_(SPAN_)ATTRIBUTE_VALUE_LENGTH_LIMIT
        bound = root_bound(self.sampler)
        self.own_decision = bound is not None  # decided here, without the sampler's calls (`root_bound`)
        self.root_bound = bound or 0
        self._checked: tuple[Any, Any] = (None, None)  # the processors last checked, and `written_to`'s answer

    def written_to(self) -> Callable[[Any], None] | None:
        """Where an ended span goes written: the only processor's batch queue (`span_encoding.ended_span_queue`).

        None where spans go to the processor readable. Rechecked when the provider's processors change (adding
        one makes a new tuple of them).
        """
        current = getattr(self.processor, "_span_processors", None)
        if current is not self._checked[0]:
            self._checked = (current, ended_span_queue(self.processor))
        queue: Callable[[Any], None] | None = self._checked[1]
        return queue

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        """A span child of the context's current span (a root span where it has none), sampled as the SDK does."""
        parent = current_span(context).get_span_context()  # `trace.get_current_span`, cheaper
        return self.start_child(name, parent, kind, attributes, links, start_time, context)

    def start_child(
        self,
        name: str,
        parent: SpanContext | None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        context: Context | None = None,
        *,
        clean: bool = False,
    ) -> trace.Span:
        """`start_span` given the parent's span context (None or invalid: a root span) rather than a context to read.

        `context` is only shown to a sampler we do not decide (`root_bound`): pass the context `parent` came from.
        `clean`: `attributes` is a new dict of text keys and str, bool, int or float values, the span's to keep
        (what the SDK's cleaning keeps as it is, where no value length limit applies: not cleaned again).
        """
        if parent is not None and parent[5]:  # valid; SpanContext's fields read by index, not by its properties
            trace_id, random_bit = parent[0], parent[3] & _RANDOM_ID
        else:
            parent, trace_id = None, self.ids.generate_trace_id()
            random_bit = _RANDOM_ID if self.ids.is_trace_id_random() else 0
        if self.own_decision:  # a parent-based sampler's decision (`root_bound`), without its calls and result object
            if parent is None:
                decision = _SAMPLE if trace_id & _LOW_64 < self.root_bound else Decision.DROP
            else:
                decision = _SAMPLE if parent[3] & _SAMPLED else Decision.DROP
            given, trace_state = attributes, None if parent is None else parent[4]
        else:
            sampled = self.sampler.should_sample(context, trace_id, name, kind, attributes, links)
            decision, given, trace_state = sampled.decision, sampled.attributes, sampled.trace_state
        flags = (_SAMPLED if decision is _SAMPLE else 0) | random_bit
        own = span_context(trace_id, self.ids.generate_span_id(), False, flags, trace_state)
        if decision is Decision.DROP:
            return trace.NonRecordingSpan(own)
        if clean and given and given is attributes and type(given) is dict and self.max_length is None:
            span = LeanSpan(
                self, name, own, parent, kind, given
            )  # the caller's new dict, as the SDK's cleaning keeps it
        else:
            span = LeanSpan(self, name, own, parent, kind)
            if given:
                span.set_attributes(given)
        if start_time is not None:
            span._start_time = start_time
        if attributes and given is not attributes:  # a sampler's attributes, then the span's (as before)
            span.set_attributes(attributes)
        for link in links or ():
            span.add_link(link.context, link.attributes)
        return span

    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Any:
        """`start_span`, current for the block; an exception leaving it is recorded by its type only."""
        span = self.start_span(name, context, kind, attributes, links, start_time)
        return _current(span, end_on_exit, record_exception, set_status_on_exception)


@contextmanager
def _current(span: trace.Span, end_on_exit: bool, record: bool, set_status: bool) -> Iterator[trace.Span]:
    """`span` current for the block (the API's `use_span` would put the exception's message in the status)."""
    with trace.use_span(span, end_on_exit=end_on_exit, record_exception=False, set_status_on_exception=False):
        try:
            yield span
        except Exception as exc:
            if record:
                span.record_exception(exc)
            if set_status:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
