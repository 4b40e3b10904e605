"""The claim-limit warning: once per agency per repeat interval, then a count; never one line per refused event."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from referral_bus.lograte import RepeatLimiter
from services.intake import handlers
from services.intake.handlers import CLAIM_LIMITED, IntakeHandlers

INTERVAL = 30.0
AGENCIES = ("agency-a", "agency-b")


def _refusals(events: list[tuple[str, float]]) -> tuple[list[dict[str, Any]], RepeatLimiter, Counter[str]]:
    """Each (agency, seconds since the previous) refuses one claim: the warning lines, the limiter, the counts."""
    clock = [1000.0]
    counted: Counter[str] = Counter()
    worker = SimpleNamespace(correlator=SimpleNamespace(refused_claims=0), claim_warnings=RepeatLimiter(INTERVAL))
    with pytest.MonkeyPatch.context() as patch, capture_logs() as lines:
        patch.setattr(handlers, "time", SimpleNamespace(monotonic=lambda: clock[0]))
        patch.setattr(handlers.metrics, "count", lambda stage, outcome: counted.update([outcome]))
        for agency, gap in events:
            clock[0] += gap
            before = worker.correlator.refused_claims
            worker.correlator.refused_claims += 1
            IntakeHandlers._claims_refused(worker, before, agency)  # type: ignore[arg-type]  # uses these two only
    return [line for line in lines if line["event"] == CLAIM_LIMITED], worker.claim_warnings, counted


def test_a_flood_writes_one_line_then_one_count_per_interval() -> None:
    lines, _, counted = _refusals([("agency-a", 0.01)] * 100 + [("agency-a", INTERVAL)])
    assert [(line.get("count"), line["agency_id"]) for line in lines] == [(None, "agency-a"), (100, "agency-a")]
    assert lines[0]["log_level"] == "warning"
    assert counted["claim_limited"] == 101, "every refused event is still counted"


def test_a_refusal_for_an_event_that_refused_nothing_writes_nothing() -> None:
    worker = SimpleNamespace(correlator=SimpleNamespace(refused_claims=3), claim_warnings=RepeatLimiter(INTERVAL))
    with capture_logs() as lines:
        IntakeHandlers._claims_refused(worker, 3, "agency-a")  # type: ignore[arg-type]  # uses these two only
    assert lines == []


@given(st.lists(st.tuples(st.sampled_from(AGENCIES), st.floats(0, 2 * INTERVAL)), max_size=80))
def test_every_refusal_is_told_and_lines_are_few(events: list[tuple[str, float]]) -> None:
    lines, limiter, counted = _refusals(events)
    for agency in AGENCIES:
        total = sum(1 for a, _ in events if a == agency)
        mine = [line for line in lines if line["agency_id"] == agency]
        held_open = sum(w.held for k, w in limiter._windows.items() if k[0] == agency)
        assert sum(line.get("count", 1) for line in mine) + held_open == total, "each refusal told once"
        span = sum(gap for _, gap in events)
        assert len(mine) <= 2 + 2 * span / INTERVAL, "at most a first line and one count per interval"
    assert counted["claim_limited"] == len(events)
