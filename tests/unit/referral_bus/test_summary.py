"""Observability off the hot path: per-event lines at DEBUG, counters tallied and flushed, the summary line."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from referral_bus import metrics, summary
from tests.support.interpreter import run_python

OUTCOMES = st.sampled_from(["accepted", "duplicate", "linked", "undecodable", "ack_accepted"])


@given(st.lists(st.tuples(st.sampled_from(["intake", "routing"]), OUTCOMES, st.integers(1, 5)), max_size=30))
def test_summary_lines_add_up_to_the_counts(events: list[tuple[str, str, int]]) -> None:
    tally: metrics.Tally = {}
    for stage, outcome, n in events:
        key = ("referral_bus_events", (("stage", stage), ("outcome", outcome)))
        tally[key] = tally.get(key, 0) + n
        tally[("referral_bus_events_in", (("stage", stage),))] = (
            tally.get(("referral_bus_events_in", (("stage", stage),)), 0) + n
        )
    lines = summary.lines(tally)
    assert set(lines) == {stage for stage, _, _ in events}
    for stage, fields in lines.items():
        counted = {o: 0 for _, o, _ in events}
        for s, o, n in events:
            if s == stage:
                counted[o] += n
        pairs = dict(p.split("=") for p in fields["outcomes"].split())
        assert {o: int(n) for o, n in pairs.items()} == {o: n for o, n in counted.items() if n}
        assert fields["events_in"] == sum(n for s, _, n in events if s == stage)
        assert all(isinstance(v, (int, str)) for v in fields.values())


def test_counts_reach_the_counters_on_flush_and_before_every_scrape() -> None:
    code = """
from referral_bus import metrics
metrics.configure("probe")
for _ in range(3):
    metrics.count("intake", "accepted"); metrics.event_in("intake")
metrics.event_out("intake", "referrals.cases.v1"); metrics.delivery("webhook", "delivered", latency_ms=4)
flushed = metrics.flush()
print(sorted((name, n) for (name, _), n in flushed.items()))
print(metrics.flush())
metrics.count("intake", "accepted")
print(metrics.exposition()[0].decode())
"""
    out = run_python(code).stdout
    assert "('referral_bus_events', 3)" in out and "('referral_bus_events_in', 3)" in out
    assert "\n{}\n" in out  # flushed once: nothing left
    assert 'outcome="accepted",stage="intake"} 4.0' in out  # the 3 flushed + 1 flushed by the scrape
    assert 'referral_bus_delivery_attempts_total{channel="webhook"' in out


def test_per_event_lines_are_debug_unless_each_event_and_the_summary_is_info() -> None:
    code = """
from referral_bus import logging, metrics, summary
logging.configure("intake")
metrics.configure("intake")
log = logging.get_logger()
summary.event(log, "case accepted", case_id="case-quiet")
metrics.count("intake", "accepted"); metrics.count("intake", "accepted"); metrics.count("intake", "duplicate")
metrics.event_in("intake")
summary.flush()
summary.flush()  # nothing counted since: no line
summary.configure(each_event=True)
summary.event(log, "case accepted", case_id="case-loud")
"""
    lines = [json.loads(x) for x in run_python(code).stderr.splitlines() if x.startswith("{")]
    assert [x["event"] for x in lines] == ["events summary", "case accepted"]
    first, loud = lines
    assert first["level"] == "info" and first["stage"] == "intake"
    assert first["outcomes"] == "accepted=2 duplicate=1" and first["events_in"] == 1
    assert loud["case_id"] == "case-loud" and loud["level"] == "info"


def test_per_event_lines_are_the_same_as_logging_them_at_every_level() -> None:
    # Exhaustive over the levels and LOG_EACH_EVENT: `event` writes exactly the lines the logger call it stands for
    # writes (its shortcut skips only what the level drops); unconfigured, DEBUG counts as let through (structlog's
    # default logger writes every level).
    code = """
import io, json, sys
from referral_bus import logging, summary
print(json.dumps(["unconfigured", logging.debug_enabled()]))
for level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "debug", "NOTSET"):
    for each in (False, True):
        sys.stderr = sink = io.StringIO()
        logging.configure("intake", level=level)  # its logger writes to the stderr of this moment: the sink
        sys.stderr = sys.__stderr__
        log = logging.get_logger()
        summary.configure(each_event=each)
        summary.event(log, "case accepted", case_id="case-1", n=2)
        ours = sink.getvalue().splitlines()
        sink.truncate(0); sink.seek(0)
        (log.info if each else log.debug)("case accepted", case_id="case-1", n=2)
        theirs = sink.getvalue().splitlines()
        strip = lambda xs: [{k: v for k, v in json.loads(x).items() if k != "timestamp"} for x in xs]
        print(json.dumps([level, each, strip(ours), strip(theirs)]))
"""
    rows = [json.loads(x) for x in run_python(code).stdout.splitlines()]
    assert rows[0] == ["unconfigured", True]
    written = {(level, each): ours for level, each, ours, theirs in rows[1:] if ours == theirs}
    assert len(written) == len(rows) - 1 == 14  # every combination: the same lines
    assert written[("DEBUG", False)] and written[("debug", False)] and written[("NOTSET", False)]  # DEBUG lines kept
    assert not written[("INFO", False)] and written[("INFO", True)] and not written[("ERROR", True)]
