"""structlog configuration shared by every service: JSON or console, trace ids, PII scrubbed.

Every line written in the context of an event carries `service`, `stage`, `case_id` (bound by
worker.Service.run_guarded and tracing.annotate) and `trace_id`/`span_id` (from the current
OpenTelemetry span). The standard library's logging (Faust, mode, aiokafka) is rendered by the same
processors through `stdlib_config()`, which worker.Service hands to Faust as its logging config.

Privacy: the values of every field the contracts mark `"pii": true` are replaced by `[redacted]`
whatever key they arrive under, free text is masked for e-mail addresses, phone numbers and IP
addresses, structured values are withheld, and exceptions are logged as type and frames only
(exception messages may quote data).
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from functools import cache
from typing import Any

import structlog
from opentelemetry import trace

from referral_bus.contracts import contracts, pii_paths

# Keys whose values are never logged, whatever their content: every PII field name in the
# contracts (derived from the `pii` annotations) plus credentials.
_SECRET_KEYS = {"password", "secret", "token", "authorization", "sasl_password", "signature"}


@cache
def _pii_keys() -> frozenset[str]:
    keys: set[str] = set()
    for schema in contracts().current.values():
        for path in pii_paths(schema.expanded):
            keys.add(path.rsplit(".", 1)[-1])
            keys.add(path)
    return frozenset(keys)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+\d[\d \-]{7,}\d")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b")
# structlog's own bookkeeping for stdlib records (removed before rendering).
_META_KEYS = frozenset({"_record", "_from_structlog"})
# Keys whose values are identifiers or numbers we put there ourselves, left as they are.
_ID_KEYS = frozenset(
    {"trace_id", "span_id", "timestamp", "level", "logger", "service", "stage", "case_id", "report_id"}
)


def scrub_text(text: str) -> str:
    """Mask values that look like e-mail addresses, phone numbers or IP addresses."""
    text = _EMAIL.sub("[email]", text)
    text = _IPV4.sub("[ip]", text)
    text = _IPV6.sub("[ip]", text)
    return _PHONE.sub("[phone]", text)


def safe_exc_info(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: render an exception as its type and frames, never its message."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or exc_info[0] is None:
        return event_dict
    exc_type, _exc, tb = exc_info
    frames = traceback.extract_tb(tb)[-8:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames)
    event_dict["exception"] = f"{exc_type.__name__} (message withheld) at {where}"
    return event_dict


def scrub_pii(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: drop values of PII/secret keys, mask PII-looking text, withhold structures."""
    pii = _pii_keys()
    for key in list(event_dict):
        value = event_dict[key]
        if key in pii or key.lower() in _SECRET_KEYS:
            event_dict[key] = "[redacted]"
        elif key in _ID_KEYS or value is None or isinstance(value, (bool, int, float)):
            continue
        elif isinstance(value, str):
            event_dict[key] = scrub_text(value)
        elif isinstance(value, (dict, list, tuple, set, bytes, bytearray)):
            event_dict[key] = "[structured value withheld]"
        elif key not in _META_KEYS:
            event_dict[key] = scrub_text(str(value))
    return event_dict


def add_trace_context(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: add the current OpenTelemetry trace and span ids."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        safe_exc_info,
        scrub_pii,
    ]


_state: dict[str, str] = {"service": "referral-bus", "fmt": "json", "level": "INFO", "repeat_interval": "30"}
_debug = [True]  # whether DEBUG lines are written: structlog unconfigured writes every level


def configure(service: str, *, fmt: str = "json", level: str = "INFO", repeat_interval: float = 30.0) -> None:
    """Configure structlog for one service (the stdlib side is `stdlib_config()`, applied by Faust's worker).

    `repeat_interval`: client-library lines repeated within it are summarised (see lograte.py).
    """
    _state.update(service=service, fmt=fmt, level=level.upper(), repeat_interval=str(repeat_interval))
    _debug[0] = logging.DEBUG >= logging.getLevelName(level.upper())  # the filtering logger's own test
    structlog.configure(
        processors=[*_shared_processors(), _renderer(fmt)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def formatter() -> structlog.stdlib.ProcessorFormatter:
    """A logging.Formatter that renders stdlib records with our processors (used by stdlib_config)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_service,
            _renderer(_state["fmt"]),
        ],
    )


def service_name() -> str:
    """The service `configure` was called for (for lines written outside any bound context)."""
    return _state["service"]


def _add_service(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict.setdefault("service", _state["service"])
    return event_dict


def stdlib_config() -> dict[str, Any]:
    """A logging.config dict routing every stdlib logger (Faust, mode, aiokafka) through our processors.

    Faust applies it when its worker starts (`faust.App(logging_config=...)`), replacing mode's
    coloured console handler. Repeated client-library warnings pass `lograte.QuietFilter`.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structlog": {"()": "referral_bus.logging.formatter"}},
        "filters": {
            "quiet": {"()": "referral_bus.lograte.quiet_filter", "interval": float(_state["repeat_interval"])}
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "structlog",
                "filters": ["quiet"],
                "level": _state["level"],
            }
        },
        "root": {"level": _state["level"], "handlers": ["default"]},
    }


def debug_enabled() -> bool:
    """Whether the configured level lets DEBUG lines through (below it structlog's logger drops them)."""
    return _debug[0]


def get_logger(**initial: Any) -> Any:
    """A bound structlog logger."""
    return structlog.get_logger(**initial)


EventTokens = tuple["contextvars.Token[Any]", ...]


@cache
def _event_vars() -> tuple[contextvars.ContextVar[Any], ...]:
    """The context variables structlog's `bind_contextvars` sets for `stage`, `case_id` and `report_id`."""
    tokens = structlog.contextvars.bind_contextvars(stage=None, case_id=None, report_id=None)
    structlog.contextvars.reset_contextvars(**tokens)
    return tokens["stage"].var, tokens["case_id"].var, tokens["report_id"].var


def bind_event(stage: str, case_id: str | None) -> EventTokens:
    """`bind_contextvars(stage=..., case_id=..., report_id=None)` of one event, its variables set directly."""
    stage_var, case_var, report_var = _event_vars()
    return stage_var.set(stage), case_var.set(case_id), report_var.set(None)


def unbind_event(tokens: EventTokens) -> None:
    """Undo `bind_event`: each variable back to what it held before."""
    for token in tokens:
        token.var.reset(token)
