"""structlog set-up: JSON lines with service/stage/case/trace ids, PII scrubbed, stdlib routed through it."""

from __future__ import annotations

import json
from typing import Any

import structlog
from hypothesis import given
from hypothesis import strategies as st

from referral_bus import logging as rb_logging
from referral_bus.logging import safe_exc_info, scrub_pii, scrub_text
from tests.support.interpreter import run_python


def test_pii_keys_are_redacted_whatever_their_value() -> None:
    out = scrub_pii(None, "info", {"event": "x", "narrative": "Ms Quynh said", "victim.name": "Lan", "token": "t"})
    assert out == {"event": "x", "narrative": "[redacted]", "victim.name": "[redacted]", "token": "[redacted]"}


def test_free_text_is_masked_and_structures_withheld() -> None:
    out = scrub_pii(
        None,
        "info",
        {"event": "mail lan@example.vn from 203.0.113.9 or +84 912 345 678", "extra": {"a": 1}, "n": 3},
    )
    assert out["event"] == "mail [email] from [ip] or [phone]"
    assert out["extra"] == "[structured value withheld]"
    assert out["n"] == 3
    assert scrub_text("2001:db8::1 and 2001:0db8:0000:0000:0000:ff00:0042:8329").count("[ip]") >= 1


def test_exceptions_keep_type_and_frames_but_never_the_message() -> None:
    def boom() -> None:
        raise ValueError("victim Lan Nguyen, lan@example.vn")

    try:
        boom()
    except ValueError as exc:
        event: dict[str, Any] = {"event": "failed", "exc_info": exc}
    out = safe_exc_info(None, "error", event)
    assert "exc_info" not in out
    assert out["exception"].startswith("ValueError (message withheld) at ")
    assert "boom" in out["exception"]
    assert "Lan" not in out["exception"] and "example" not in out["exception"]


def test_json_lines_carry_service_stage_case_and_trace_ids() -> None:
    code = """
import logging
import structlog
from referral_bus import logging as rb_logging, tracing
import logging.config
rb_logging.configure("intake", fmt="json")
logging.config.dictConfig(rb_logging.stdlib_config())  # what Faust's worker applies at start
tracing.configure("referral-bus-intake")
log = rb_logging.get_logger()
with structlog.contextvars.bound_contextvars(stage="intake", case_id="case-1"):
    with tracing.stage_span("probe"):
        log.info("case accepted", victim={"name": "Lan"}, contact="lan@example.vn")
        logging.getLogger("aiokafka").warning("broker said %s", "mail lan@example.vn")
log.info("after the event")
tracing.shutdown()
"""
    done = run_python(code, OTEL_TRACES_EXPORTER="console")
    lines = [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
    assert len(lines) == 3, done.stderr
    ours, stdlib, after = lines
    for line in (ours, stdlib):
        assert line["service"] == "intake"
        assert line["stage"] == "intake"
        assert line["case_id"] == "case-1"
        assert len(line["trace_id"]) == 32 and len(line["span_id"]) == 16
    assert ours["contact"] == "[redacted]" and ours["victim"] == "[structured value withheld]"
    assert stdlib["event"] == "broker said mail [email]" and stdlib["logger"] == "aiokafka"
    assert "case_id" not in after and "stage" not in after
    assert "lan@example.vn" not in done.stderr


def test_console_format_for_development() -> None:
    code = """
from referral_bus import logging as rb_logging
rb_logging.configure("routing", fmt="console")
rb_logging.get_logger().info("rules loaded", rules=3)
"""
    err = run_python(code).stderr
    assert "rules loaded" in err and "rules=3" in err and "service=routing" in err
    assert not err.lstrip().startswith("{")


_CASE_IDS = st.none() | st.text(max_size=30)


@given(st.lists(st.tuples(st.text(max_size=10), _CASE_IDS), max_size=6), st.none() | st.text(max_size=10))
def test_bind_event_is_structlogs_bind_and_reset(events: list[tuple[str, str | None]], report_id: str | None) -> None:
    """Nested events (any stages and case ids) see and leave the same log context as with structlog's own calls."""
    structlog.contextvars.clear_contextvars()
    outer = structlog.contextvars.bind_contextvars(report_id=report_id, other="kept")
    try:
        ours, theirs = [], []
        for stage, case_id in events:  # nested: each inside the one before
            ours.append(rb_logging.bind_event(stage, case_id))
            seen = structlog.contextvars.get_contextvars()
            rb_logging.unbind_event(ours.pop())
            theirs.append(structlog.contextvars.bind_contextvars(stage=stage, case_id=case_id, report_id=None))
            assert seen == structlog.contextvars.get_contextvars()
            structlog.contextvars.reset_contextvars(**theirs.pop())
            ours.append(rb_logging.bind_event(stage, case_id))
        for tokens in reversed(ours):
            rb_logging.unbind_event(tokens)
        assert structlog.contextvars.get_contextvars() == {"report_id": report_id, "other": "kept"}
    finally:
        structlog.contextvars.reset_contextvars(**outer)
