"""Faust's process spans, cheap (`lean_spans`) and without the Kafka record key: only ids the bus minted.

A record key may be an agency's own bytes (the intake topic), an unsalted hash of content (the
correlation topic) or whatever a dead letter's source carried. Faust's OpenTelemetry sensor copies
it into `messaging.kafka.message.key`; this sensor leaves it out (the send spans of
tracing.instrument_sends never set it). The case id, where there is one, is
already `referral_bus.case_id`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from faust.contrib.opentelemetry import INSTRUMENTATION_NAME, OpenTelemetrySensor
from faust.types.settings import Settings
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter

from referral_bus import span_parent
from referral_bus.lean_spans import kept_as_is
from referral_bus.tracing import KEY_ATTRIBUTE, lean_tracer

OFFSET_ATTRIBUTE = "messaging.kafka.message.offset"
log = logging.getLogger(__name__)
_KEYLESS: Any = SimpleNamespace(message=None)  # an event whose attributes are those of its partition only


class HeaderGetter(Getter[Any]):
    """Faust's header getter (the first value of a name, decoded) without copying the headers on every look-up."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        """The first non-null value of header `key`, as text; None where there is none."""
        for name, value in carrier.items() if isinstance(carrier, Mapping) else carrier or ():
            if name == key and value is not None:
                return [value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)]
        return None

    def keys(self, carrier: Any) -> list[str]:
        """Every header name, in order (repeats kept)."""
        return [name for name, _ in (carrier.items() if isinstance(carrier, Mapping) else carrier or ())]


class ProcessSpanSensor(OpenTelemetrySensor):
    """Faust's `{topic} process` span, without the record key among its attributes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._getter = HeaderGetter()  # the propagators ask for three names per event: Faust's copies thrice
        # per topic, partition and group: their attributes, and whether all are text keys of scalar values
        self._fixed: dict[tuple[str, int, Any], tuple[dict[str, Any], bool]] = {}
        self._names: dict[str, str] = {}  # `{topic} process`, per topic

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> dict[str, Any] | None:
        """Faust's: the `{topic} process` span, current until the event is out; its parent read by `span_parent`."""
        try:
            headers, tracer = getattr(event.message, "headers", None), self.tracer
            name = self._names.get(tp.topic) or self._names.setdefault(tp.topic, f"{tp.topic} process")
            attributes, clean = self._attributes(stream, tp, offset)
            # the plain parent as is, where our tracer decides (it reads no context); else the SDK's way
            default = getattr(tracer, "own_decision", False)
            found = span_parent.plain_parent(headers) if default else span_parent.OTHER
            if found is span_parent.OTHER:
                parent = span_parent.extract(headers, self._getter)
                span = tracer.start_span(name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes)
            else:
                span = tracer.start_child(name, found, trace.SpanKind.CONSUMER, attributes, clean=clean)
            token = span_parent.attach_span(span)  # `attach(set_span_in_context(span))` in one step
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the event it observes (as Faust's)
            log.debug("no process span: %s", type(exc).__name__)
            return None
        return {"span": span, "token": token}

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: dict[Any, Any] | None = None
    ) -> None:
        """Faust's: the context detached and the span ended (nothing where the event had no span)."""
        if not state:
            return  # `Stream.ack()` calls this without state; the span is ended where it was opened
        span, token = state.pop("span", None), state.pop("token", None)
        try:
            if token is not None:
                span_parent.detach(token)
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the event it observes (as Faust's)
            log.debug("process span's context not detached: %s", type(exc).__name__)
        try:
            if span is not None:
                span.end()
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the event it observes (as Faust's)
            log.debug("process span not ended: %s", type(exc).__name__)

    @property
    def tracer(self) -> Any:
        """One tracer for every event (Faust asks the provider for a new one each time), of cheap spans."""
        if self._explicit_tracer is None:
            self._explicit_tracer = lean_tracer(INSTRUMENTATION_NAME)
        return self._explicit_tracer

    def _span_attributes(self, stream: Any, event: Any, tp: Any, offset: int) -> dict[str, Any]:
        """Faust's attributes but the key: those of the partition and group made once, then this offset."""
        return self._attributes(stream, tp, offset)[0]

    def _attributes(self, stream: Any, tp: Any, offset: int) -> tuple[dict[str, Any], bool]:
        """`_span_attributes`, a new dict, and whether a lean span may keep it as it is (`LeanTracer.start_child`)."""
        group = _group(getattr(getattr(stream, "app", None), "conf", None))
        where = (tp.topic, tp.partition, group)
        fixed = self._fixed.get(where)
        if fixed is None:
            made = super()._span_attributes(stream, _KEYLESS, tp, offset)
            made.pop(KEY_ATTRIBUTE, None)
            fixed = self._fixed[where] = (made, kept_as_is(made))
        attributes = fixed[0].copy()
        attributes[OFFSET_ATTRIBUTE] = offset  # in Faust's place among them
        return attributes, fixed[1] and type(offset) is int


def _group(conf: Any) -> Any:
    """`getattr(conf, "id", None)` (Faust's sensor's consumer group); Faust's own settings read without its layers.

    Faust's `Settings.id` is `self._id` behind its `__getattribute__` (≈ 0.7 µs an event); a subclass is asked.
    """
    return _read(conf, "_id") if type(conf) is Settings else getattr(conf, "id", None)


_read = object.__getattribute__
