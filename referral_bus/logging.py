"""structlog configuration shared by every service: JSON or console, trace ids, PII scrubbed."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

from referral_bus.schemas import pii_paths, registry

# Keys whose values are never logged, whatever their content: every PII field name in the
# contracts (derived from the `pii` annotations) plus credentials.
_SECRET_KEYS = {"password", "secret", "token", "authorization", "sasl_password", "signature"}


def _pii_keys() -> frozenset[str]:
    keys: set[str] = set()
    for schema in registry().current.values():
        for path in pii_paths(schema.expanded):
            keys.add(path.rsplit(".", 1)[-1])
            keys.add(path)
    return frozenset(keys)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+\d[\d \-]{7,}\d")
_FREE_TEXT_KEYS = frozenset({"event", "detail", "error", "message", "first_problem", "reason"})
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def scrub_text(text: str) -> str:
    """Mask values that look like e-mail addresses, phone numbers or IP addresses."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return _IPV4.sub("[ip]", text)


def scrub_pii(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: drop values of PII/secret keys and mask PII-looking text."""
    pii = _pii_keys()
    for key in list(event_dict):
        if key in pii or key.lower() in _SECRET_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str) and key in _FREE_TEXT_KEYS:
            event_dict[key] = scrub_text(event_dict[key])
        elif isinstance(event_dict[key], (dict, list)):
            event_dict[key] = "[structured value withheld]"
    return event_dict


def add_trace_context(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: add the current OpenTelemetry trace and span ids."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def configure(service: str, *, fmt: str = "json", level: str = "INFO") -> None:
    """Configure structlog and the standard library's logging for one service."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_trace_context,
            scrub_pii,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(**initial: Any) -> Any:
    """A bound structlog logger."""
    return structlog.get_logger(**initial)
