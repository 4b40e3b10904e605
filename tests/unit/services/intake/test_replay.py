"""A report read again late (crash, rebalance, backlog) decides as the first time: the same case, the same ids.

Intake judges its windows on the broker's append stamp of a report's record (`accepted_time`) and keeps dedup
and correlation entries the replay grace past their window. Over every timing within the grace, with sweeps
at any moment in between, the second reading makes the first reading's decision; judged on the clock, or
without the grace, it would not (the last two tests show the difference is real).
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.codec import Codec
from referral_bus.expiry import Expiry
from services.intake.accept import Accepted, Duplicate, Intake, accepted_time, case_id_for, report_key
from services.intake.correlate import Correlator, Decided
from services.intake.settings import IntakeSettings
from tests.support.correlation import through_hops
from tests.support.reports import valid_report

WINDOW = 15_000
GRACE = 30_000
T0 = int(time.time() * 1000) + 86_400_000  # after every time the test reports carry
SHA = "ab" * 32
codec = Codec()


class Swept(dict[str, Any]):
    """A table whose writes are timed by a wall clock and swept like the worker sweeps (expiry.py)."""

    def __init__(self, rule: Expiry) -> None:
        super().__init__()
        self.rule, self.clock, self.written = rule, 0, {}

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.written[key] = self.clock

    def sweep(self, at: int) -> None:
        """Delete every entry the rule expires at wall time `at`."""
        self.clock = max(self.clock, at)
        for key in [k for k, w in self.written.items() if self.rule.expired(self.get(k), w, at)]:
            self.pop(key, None)
            del self.written[key]


def case_at(agency: str, report_id: str, at: int) -> dict[str, Any]:
    report = valid_report(agency_id=agency, report_id=report_id, content_hashes=[{"algorithm": "sha256", "value": SHA}])
    return {"case_id": case_id_for(agency, report_id), "accepted_at": at, "report": report, "linked_reports": []}


def linked_reading(grace: int, d: int, lag_a: int, lag1: int, lag2: int, sweeps: list[int], clock: bool) -> tuple:
    """Report A at T0 (claimed `lag_a` later); B appended `d` after it, read `lag1` and again `lag2` after that.

    Returns both readings' decisions (case id, linked) for B. `clock`: judge on the wall clock, not the stamp.
    """
    table = Swept(Expiry(WINDOW + grace))
    correlator = Correlator(table, window_ms=WINDOW)
    table.clock = T0 + lag_a
    through_hops(correlator, case_at("agency-a", "A-1", T0))
    appended = T0 + d
    out = []
    for lag in (lag1, lag2):
        wall = appended + lag
        for s in sorted(sweeps):
            if s <= wall:
                table.sweep(s)
        table.sweep(wall)
        at = wall if clock else accepted_time(appended, True, wall)
        decided = through_hops(correlator, case_at("agency-b", "B-1", at))
        assert isinstance(decided, Decided)
        out.append((decided.case_id, decided.linked))
    return tuple(out)


timing = st.tuples(
    st.integers(0, 2 * WINDOW),  # B's append after A's
    st.integers(0, 3_000),  # A's claim written this long after its append
    st.integers(0, GRACE),
    st.integers(0, GRACE),
    st.lists(st.integers(T0, T0 + 2 * WINDOW + 2 * GRACE), max_size=6),
)


@settings(max_examples=400, deadline=None)
@given(timing)
def test_a_linked_report_read_again_within_the_grace_joins_what_it_joined_first(t: tuple) -> None:
    d, lag_a, l1, l2, sweeps = t
    if d < lag_a:  # B read before A's claim exists is the documented race of two first reports, not a replay
        return
    first, again = linked_reading(GRACE, d, lag_a, min(l1, l2), max(l1, l2), sweeps, clock=False)
    assert first == again
    assert first[1] == (d < WINDOW), "linked exactly when appended within the window of A"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, WINDOW), st.integers(0, GRACE), st.integers(0, GRACE), st.lists(st.integers(0, 200_000)))
def test_a_duplicate_read_within_the_grace_stays_one(dd: int, lag_o: int, lag_d: int, sweeps: list[int]) -> None:
    seen = Swept(Expiry(WINDOW + GRACE))
    intake = Intake(codec, seen, clock_skew_ms=0)
    report = valid_report(agency_id="agency-a", report_id="R-1")
    key, value = report_key("agency-a", "R-1").encode(), codec.encode("CaseReport", report)
    original_at = T0 + lag_o
    seen.clock = original_at
    first = intake.handle(key, value, now_ms=original_at, accepted_at=accepted_time(T0, True, original_at))
    assert isinstance(first, Accepted)
    intake.remember(first)
    wall = T0 + dd + lag_d  # the copy was appended dd after the original, read lag_d after its append
    for s in sorted(T0 + x for x in sweeps):
        if s <= wall:
            seen.sweep(s)
    seen.sweep(wall)
    again = intake.handle(key, value, now_ms=wall, accepted_at=accepted_time(T0 + dd, True, wall))
    assert isinstance(again, Duplicate) and again.case_id == first.case_id


def test_on_the_clock_a_late_reading_would_open_a_case_of_its_own() -> None:
    # B appended 10 s after A (inside the 15-s window), read at once and again 12 s later (after a restart)
    first, again = linked_reading(GRACE, 10_000, 0, 0, 12_000, [], clock=True)
    assert first[1] and not again[1] and first[0] != again[0]


def test_without_the_grace_a_sweep_between_readings_would_change_the_decision() -> None:
    first, again = linked_reading(0, 10_000, 0, 0, 12_000, [T0 + 20_000], clock=False)
    assert first[1] and not again[1]


def test_the_broker_stamp_counts_and_a_producer_stamp_does_not() -> None:
    assert accepted_time(T0, True, T0 + 99_000) == T0
    assert accepted_time(T0, False, T0 + 99_000) == T0 + 99_000
    assert accepted_time(None, True, T0 + 99_000) == T0 + 99_000


def test_entries_are_kept_the_grace_past_their_window(monkeypatch: Any) -> None:
    monkeypatch.setenv("INTAKE_REPLAY_GRACE_SECONDS", "30")
    monkeypatch.setenv("INTAKE_CORRELATION_WINDOW_HOURS", "1")
    monkeypatch.setenv("INTAKE_DEDUP_WINDOW_DAYS", "1")
    s = IntakeSettings()
    assert s.content_expiry_ms == 3_600_000 + 30_000
    assert s.dedup_expiry_ms == 86_400_000 + 30_000
