"""By default a worker writes no line per event: one `events summary` line per interval counts the outcomes.

A real intake worker with the default (INTAKE_LOG_EACH_EVENT=false) and a 1-s summary interval takes
accepted reports, a duplicate and a bad message: its log holds no per-event line, the summaries add up
to what it did, and carry no report id, case id or personal value. A worker stopped before its next
summary writes what it counted since the last one.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from referral_bus.codec import Codec
from referral_devstack.workers import running
from services.intake.accept import report_key
from tests.support.intake import MAX_BYTES, Message, produce, wait_drained
from tests.support.polling import poll
from tests.support.reports import valid_report

pytestmark = [pytest.mark.kafka]


def summaries(text: str) -> list[dict[str, Any]]:
    """The `events summary` lines of a worker's log."""
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("event") == "events summary"]


def outcomes(lines: list[dict[str, Any]]) -> Counter[str]:
    """The outcome counts of the summary lines, added up."""
    total: Counter[str] = Counter()
    for line in lines:
        for pair in line.get("outcomes", "").split():
            name, n = pair.split("=")
            total[name] += int(n)
    return total


def _accepted(n: int) -> tuple[list[dict[str, Any]], list[Message]]:
    """`n` valid reports and their messages, each expected to be accepted."""
    codec = Codec()
    reports = [valid_report() for _ in range(n)]
    messages = [
        Message(report_key(r["agency_id"], r["report_id"]).encode(), codec.encode("CaseReport", r), "accepted")
        for r in reports
    ]
    return reports, messages


async def test_default_is_a_summary_per_interval_not_a_line_per_event(namespace: str, kafka: str) -> None:
    reports, messages = _accepted(4)
    messages.append(Message(messages[0].key, messages[0].value, "duplicate"))
    messages.append(Message(b"bad", b"\x00not avro", "unknown_schema"))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "KAFKA_MAX_MESSAGE_BYTES": str(MAX_BYTES),
        "INTAKE_LOG_EACH_EVENT": "false",
        "INTAKE_LOG_SUMMARY_INTERVAL_SECONDS": "1",
    }
    with running(namespace, env, "intake", prefix="summary-") as workers:
        await produce(namespace, kafka, messages)
        await wait_drained(namespace, kafka)

        def counted() -> bool:
            got = outcomes(summaries(workers.log_path("intake").read_text(errors="replace")))
            return got["accepted"] >= 4 and got["duplicate"] >= 1 and got["unknown_schema"] >= 1

        assert await poll(counted, 30), workers.tail("intake", 40)
        text = workers.log_path("intake").read_text(errors="replace")
    lines = summaries(text)
    got = outcomes(lines)
    assert got == {"accepted": 4, "duplicate": 1, "unknown_schema": 1}, got
    assert all(x["stage"] == "intake" and x["level"] == "info" for x in lines)
    assert sum(x["events_in"] for x in lines) >= len(messages)
    # no line per event, and nothing of a case in the summaries
    assert "case accepted" not in text and "duplicate report" not in text
    for line in lines:
        assert "case_id" not in line and "report_id" not in line
    for report in reports:
        for value in (report["report_id"], report["victim"]["name"]):
            assert value not in json.dumps(lines)


async def test_a_stopping_worker_writes_what_it_counted_since_the_last_summary(namespace: str, kafka: str) -> None:
    _, messages = _accepted(3)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "KAFKA_MAX_MESSAGE_BYTES": str(MAX_BYTES),
        "INTAKE_LOG_EACH_EVENT": "false",
        "INTAKE_LOG_SUMMARY_INTERVAL_SECONDS": "3600",  # no timer tick during the test: only the stop writes it
    }
    with running(namespace, env, "intake", prefix="summary-stop-") as workers:
        await produce(namespace, kafka, messages)
        await wait_drained(namespace, kafka)
        assert not summaries(workers.log_path("intake").read_text(errors="replace"))
        workers.stop("intake")  # SIGTERM: a graceful stop
        text = workers.log_path("intake").read_text(errors="replace")
    assert outcomes(summaries(text)) == {"accepted": 3}, text[-3000:]
