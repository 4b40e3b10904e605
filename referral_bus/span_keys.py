"""Faust's process spans, cheap (`lean_spans`) and without the Kafka record key: only ids the bus minted.

A record key may be an agency's own bytes (the intake topic), an unsalted hash of content (the
correlation topic) or whatever a dead letter's source carried. Faust's OpenTelemetry sensor copies
it into `messaging.kafka.message.key`; this sensor leaves it out (the send spans of
tracing.instrument_sends never set it). The case id, where there is one, is
already `referral_bus.case_id`.
"""

from __future__ import annotations

from typing import Any

from faust.contrib.opentelemetry import INSTRUMENTATION_NAME, OpenTelemetrySensor

from referral_bus.tracing import KEY_ATTRIBUTE, lean_tracer


class ProcessSpanSensor(OpenTelemetrySensor):
    """Faust's `{topic} process` span, without the record key among its attributes."""

    @property
    def tracer(self) -> Any:
        """One tracer for every event (Faust asks the provider for a new one each time), of cheap spans."""
        if self._explicit_tracer is None:
            self._explicit_tracer = lean_tracer(INSTRUMENTATION_NAME)
        return self._explicit_tracer

    def _span_attributes(self, stream: Any, event: Any, tp: Any, offset: int) -> dict[str, Any]:
        attributes: dict[str, Any] = super()._span_attributes(stream, event, tp, offset)
        attributes.pop(KEY_ATTRIBUTE, None)
        return attributes
