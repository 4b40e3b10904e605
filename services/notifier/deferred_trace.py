"""A report's trace kept in a table entry for work a timer does later (a parked retry's release, an escalation).

`carried()` is the current span's `traceparent` (its ids and sampled flag, never a personal value); `resumed(it)`
makes that span current again, so the records sent then carry the report's trace and its sampling decision
instead of opening a root of their own (a new trace, sampled apart from its report).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context

from referral_bus import span_parent
from referral_bus.span_keys import HeaderGetter


def carried() -> str | None:
    """The current span's `traceparent` value, to keep in an entry; None where no span is current."""
    return span_parent.inject(otel_context.get_current()).get("traceparent")


@contextmanager
def resumed(traceparent: str | None) -> Iterator[None]:
    """The span `traceparent` names current for the block (a value `carried` gave); nothing changed for None."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(span_parent.extract([("traceparent", traceparent.encode())], HeaderGetter()))
    try:
        yield
    finally:
        otel_context.detach(token)
