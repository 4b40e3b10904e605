"""Faust's process spans, cheap (`lean_spans`) and without the Kafka record key: only ids the bus minted.

A record key may be an agency's own bytes (the intake topic), an unsalted hash of content (the
correlation topic) or whatever a dead letter's source carried. Faust's OpenTelemetry sensor copies
it into `messaging.kafka.message.key`; this sensor leaves it out (the send spans of
tracing.instrument_sends never set it). The case id, where there is one, is
already `referral_bus.case_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from faust.contrib.opentelemetry import INSTRUMENTATION_NAME, OpenTelemetrySensor
from opentelemetry.propagators.textmap import Getter

from referral_bus.tracing import KEY_ATTRIBUTE, lean_tracer

OFFSET_ATTRIBUTE = "messaging.kafka.message.offset"
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
        self._fixed: dict[tuple[str, int, Any], dict[str, Any]] = {}  # per topic, partition and group

    @property
    def tracer(self) -> Any:
        """One tracer for every event (Faust asks the provider for a new one each time), of cheap spans."""
        if self._explicit_tracer is None:
            self._explicit_tracer = lean_tracer(INSTRUMENTATION_NAME)
        return self._explicit_tracer

    def _span_attributes(self, stream: Any, event: Any, tp: Any, offset: int) -> dict[str, Any]:
        """Faust's attributes but the key: those of the partition and group made once, then this offset."""
        group = getattr(getattr(getattr(stream, "app", None), "conf", None), "id", None)
        where = (tp.topic, tp.partition, group)
        fixed = self._fixed.get(where)
        if fixed is None:
            fixed = super()._span_attributes(stream, _KEYLESS, tp, offset)
            fixed.pop(KEY_ATTRIBUTE, None)
            self._fixed[where] = fixed
        attributes = fixed.copy()
        attributes[OFFSET_ATTRIBUTE] = offset  # in Faust's place among them
        return attributes
