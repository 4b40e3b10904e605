"""The CLIENT span of an outgoing HTTP request (a webhook call), its trace context written into the request's headers.

Ours rather than opentelemetry-instrumentation-aiohttp-client's, which cost the notifier ≈ 450 µs a request
on the benchmark machine (every session's aiohttp trace signals, URL parsing and sanitising, an SDK span):
one lean span (`lean_spans`) around the call, with the stable HTTP attributes and no query string or user
info in `url.full` (a webhook address may carry a token). Nothing happens until `install` (tracing.configure).
"""

from __future__ import annotations

import functools
from collections.abc import MutableMapping
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from referral_bus import span_parent

_tracer: trace.Tracer | None = None
_lean: type | None = None  # LeanTracer, once installed (imported then: the SDK is not loaded while tracing is off)


def install(tracer: trace.Tracer) -> None:
    """Open client spans with `tracer` from now on (tracing.configure, when traces are exported)."""
    global _tracer, _lean
    from referral_bus.lean_spans import LeanTracer

    _tracer, _lean = tracer, LeanTracer


class Call:
    """One request's span, for the caller to record the answer on."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def answered(self, status: int) -> None:
        """The response's status; 4xx and 5xx put the span in error (`error.type` = the status code)."""
        if not self.span.is_recording():
            return
        self.span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self.span.set_attribute("error.type", str(status))
            self.span.set_status(Status(StatusCode.ERROR))


_UNTRACED = Call(trace.INVALID_SPAN)


@functools.lru_cache(maxsize=256)
def url_attributes(url: str) -> dict[str, Any]:
    """`url.full` without user info or query, `server.address`, `server.port` (the scheme's default if unsaid)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return {
        "url.full": f"{parts.scheme}://{shown}{f':{parts.port}' if parts.port else ''}{parts.path}",
        "server.address": host,
        "server.port": port,
    }


def client_span(method: str, url: str, headers: MutableMapping[str, str]) -> AbstractContextManager[Call]:
    """A CLIENT span named after the method around the request; its context goes into `headers` (`traceparent`).

    An exception leaving the block marks the span as an error with the exception's type only.
    """
    return _ClientSpan(_tracer, method, url, headers) if _tracer is not None else _NOT_TRACED


_NOT_TRACED = nullcontext(_UNTRACED)


class _ClientSpan(Call):
    """`client_span`'s block: the span started and its context written on entry, ended on exit (no generator)."""

    def __init__(self, tracer: trace.Tracer, method: str, url: str, headers: MutableMapping[str, str]) -> None:
        super().__init__(trace.INVALID_SPAN)
        self._tracer, self._method, self._url, self._headers = tracer, method, url, headers
        self._open: trace.Span | None = None

    def __enter__(self) -> Call:
        span = _start(self._tracer, self._method, self._url, self._headers)
        if span is None:
            return _UNTRACED
        self.span = self._open = span
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        span = self._open
        if span is None:
            return
        if exc is not None:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        span.end()


def _start(tracer: trace.Tracer, method: str, url: str, headers: MutableMapping[str, str]) -> trace.Span | None:
    """The span, its context in `headers`; None if telemetry failed (the request goes untraced, never fails)."""
    try:
        current = otel_context.get_current()
        attributes = {"http.request.method": method, **url_attributes(url)}  # a new dict: text keys, str and int
        if type(tracer) is _lean:  # `start_span`, the span keeping that dict where the SDK's cleaning would
            parent = span_parent.current_span(current).get_span_context()
            clean = type(method) is str
            lean: Any = tracer
            span: trace.Span = lean.start_child(
                method, parent, SpanKind.CLIENT, attributes, context=current, clean=clean
            )
        else:
            span = tracer.start_span(method, context=current, kind=SpanKind.CLIENT, attributes=attributes)
        span_parent.inject_child(span, current, headers)  # `propagate.inject`, cheaper where plain
    except Exception:  # noqa: BLE001 - telemetry never breaks the work it observes
        return None
    return span
