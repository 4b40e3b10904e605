"""The outage log limiter: first line of each kind passes, repeats are counted, one summary per interval."""

from __future__ import annotations

import logging

import structlog
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.lograte import OutageTracker, QuietFilter, RepeatLimiter

METADATA = "Unable to update metadata from %s"


def test_first_line_passes_repeats_are_counted_and_summarised_once_per_interval() -> None:
    limiter = RepeatLimiter(interval=10)
    key = ("aiokafka.client", METADATA)
    assert limiter.admit(key, 0.0) is True
    assert [limiter.admit(key, t / 10) for t in range(1, 100)] == [False] * 99
    assert limiter.due(9.9) == []
    (summary,) = limiter.due(10.0)
    assert (summary.logger, summary.template, summary.count) == ("aiokafka.client", METADATA, 99)
    # the outage goes on: the next window counts from the first line, nothing passes
    assert limiter.admit(key, 10.5) is False
    assert [s.count for s in limiter.due(20.0)] == [1]
    # a quiet window closes; the next line of that kind is written again
    assert limiter.due(30.0) == []
    assert limiter.admit(key, 31.0) is True


def test_kinds_are_limited_separately() -> None:
    limiter = RepeatLimiter(interval=5)
    a, b = ("aiokafka.client", METADATA), ("aiokafka.conn", "Unable connect to node with id %s: %s")
    assert limiter.admit(a, 0) and limiter.admit(b, 0)
    assert not limiter.admit(a, 1) and not limiter.admit(b, 1) and not limiter.admit(b, 2)
    assert sorted((s.template, s.count) for s in limiter.due(5)) == sorted([(a[1], 1), (b[1], 2)])


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 5, allow_nan=False)), max_size=200))
def test_no_line_is_lost_and_at_most_two_lines_per_kind_per_interval(events: list[tuple[int, float]]) -> None:
    """Every line is either written or counted in a summary; per kind and interval: one line, one summary."""
    interval = 1.0
    limiter = RepeatLimiter(interval)
    now, written, counted, lines_at = 0.0, 0, 0, []
    for kind, step in events:
        now += step
        for s in limiter.due(now):
            counted += s.count
            lines_at.append((s.template, now))
        if limiter.admit(("aiokafka", str(kind)), now):
            written += 1
            lines_at.append((str(kind), now))
    counted += sum(s.count for s in limiter.flush(now + interval))
    assert written + counted == len(events)
    for kind in {str(k) for k, _ in events}:
        times = sorted(t for k, t in lines_at if k == kind)
        for i, t in enumerate(times):
            assert sum(1 for u in times[i:] if u < t + interval) <= 2


def test_outage_starts_once_and_recovers_once_after_a_quiet_interval() -> None:
    outage = OutageTracker(quiet=10)
    assert outage.error(0.0) is True
    assert [outage.error(t) for t in (1.0, 2.0, 3.0)] == [False, False, False]
    assert outage.recovered(12.9) is None
    assert outage.recovered(13.0) == (3.0, 4)
    assert outage.recovered(14.0) is None
    assert outage.error(20.0) is True  # a new outage


def _record(name: str, msg: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, ("node-1",), None)


def test_filter_writes_outage_summary_and_recovery_lines_once_each() -> None:
    clock = [0.0]
    quiet = QuietFilter(interval=10, clock=lambda: clock[0])
    quiet._ensure_ticker = lambda: None  # type: ignore[method-assign]  # ticks driven by the test
    with structlog.testing.capture_logs() as lines:
        passed = []
        for i in range(5000):  # 5,000 errors over 25 s
            clock[0] = i * 0.005
            passed.append(quiet.filter(_record("aiokafka.client", METADATA)))
            if i % 200 == 0:
                quiet.tick()
        assert quiet.filter(_record("faust.worker", "some info", logging.INFO)) is True
        assert quiet.filter(_record("referral_bus.x", METADATA)) is True  # not a client library
        clock[0] = 40.0
        quiet.tick()
        quiet.tick()
    assert passed.count(True) == 1
    events = [line["event"] for line in lines]
    assert events.count("broker unreachable: Kafka client errors from now on are summarised") == 1
    assert events.count("broker reachable again") == 1
    summaries = [line for line in lines if line["event"] == "repeated client log lines held back"]
    assert 2 <= len(summaries) <= 4  # one per 10 s interval of a 25 s outage, plus the rest at recovery
    assert sum(s["count"] for s in summaries) == 4999
    assert all(s["message"] == METADATA for s in summaries)  # the template: no host, no value
    recovery = next(line for line in lines if line["event"] == "broker reachable again")
    assert recovery["connection_errors"] == 5000


def test_stdlib_config_puts_the_filter_on_the_handler() -> None:
    import logging.config

    from referral_bus import logging as rb_logging
    from referral_bus.lograte import quiet_filter

    rb_logging.configure("probe", fmt="json", repeat_interval=7.0)
    logging.config.dictConfig(rb_logging.stdlib_config())
    (handler,) = logging.getLogger().handlers
    assert quiet_filter(7.0) in handler.filters
