"""services/notifier/pending.py: pending referrals by priority and state, breakers per recipient (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.breaker import CircuitBreaker
from services.notifier.pending import (
    PRIORITIES,
    STATES,
    UNACKNOWLEDGED,
    UNDELIVERED,
    OpenSince,
    Waiting,
    awaiting_ack,
    summarise,
)

MIN = 60_000


def test_delivered_entries_await_an_ack_until_acknowledged_counted_from_routing() -> None:
    entry = {"priority": "P1", "created_at": 400, "delivered_at": 1000, "ack_sla_seconds": 900, "status": "DELIVERED"}
    assert awaiting_ack(entry) == Waiting("P1", UNACKNOWLEDGED, 400, 900)
    older = {k: v for k, v in entry.items() if k != "created_at"}  # written before the state kept created_at
    assert awaiting_ack(older) == Waiting("P1", UNACKNOWLEDGED, 1000, 900)
    for status in ("ACKNOWLEDGED", "REJECTED", "COMPLETED", "REVOKED"):
        assert awaiting_ack({**entry, "status": status}) is None
    assert awaiting_ack(None) is None


def test_a_referral_not_delivered_waits_since_routing_whether_retrying_given_up_or_refused() -> None:
    for status in ("ROUTED", "FAILED", "REFUSED"):
        entry = {"priority": "P2", "created_at": 5, "delivered_at": None, "ack_sla_seconds": 3600, "status": status}
        assert awaiting_ack(entry) == Waiting("P2", UNDELIVERED, 5, 3600)


def test_every_priority_and_state_is_reported_even_when_nothing_waits() -> None:
    rows = summarise([], now_ms=0)
    assert {(r.priority, r.state) for r in rows} == {(p, s) for p in PRIORITIES for s in STATES}
    assert all(r.count == 0 and r.overdue == 0 and r.oldest_age_s == 0 for r in rows)


def test_overdue_means_older_than_the_referrals_own_sla() -> None:
    now = 100 * MIN
    waiting = [
        Waiting("P1", UNACKNOWLEDGED, now - 16 * MIN, 15 * 60),  # overdue
        Waiting("P1", UNACKNOWLEDGED, now - 14 * MIN, 15 * 60),  # not yet
        Waiting("P1", UNDELIVERED, now - 20 * MIN, 15 * 60),  # cannot be acknowledged in time any more
        Waiting("P2", UNDELIVERED, now - 20 * MIN, 3600),
    ]
    rows = {(r.priority, r.state): r for r in summarise(waiting, now)}
    assert (rows["P1", UNACKNOWLEDGED].count, rows["P1", UNACKNOWLEDGED].overdue) == (2, 1)
    assert rows["P1", UNACKNOWLEDGED].oldest_age_s == 16 * 60
    assert (rows["P1", UNDELIVERED].count, rows["P1", UNDELIVERED].overdue) == (1, 1)
    assert (rows["P2", UNDELIVERED].count, rows["P2", UNDELIVERED].overdue) == (1, 0)


@given(
    st.lists(
        st.tuples(st.sampled_from(PRIORITIES), st.sampled_from(STATES), st.integers(0, 10**7), st.integers(0, 10**4)),
        max_size=60,
    )
)
def test_counts_add_up_and_overdue_never_exceeds_count(items: list[tuple[str, str, int, int]]) -> None:
    now = 10**7
    waiting = [Waiting(p, s, since, sla) for p, s, since, sla in items]
    rows = summarise(waiting, now)
    assert sum(r.count for r in rows) == len(items)
    assert sum(r.overdue for r in rows) == sum(
        1 for w in waiting if w.sla_seconds and now - w.since_ms > w.sla_seconds * 1000
    )
    assert all(0 <= r.overdue <= r.count for r in rows)


def test_a_breaker_is_open_from_its_first_opening_through_failed_probes_until_it_closes() -> None:
    breaker = CircuitBreaker(threshold=2, reset_seconds=30)
    since = OpenSince()
    assert [(r.recipient_id, r.open, r.open_seconds) for r in since.rows([("r1", breaker)], 0.0)] == [
        ("r1", False, 0.0)
    ]
    breaker.failure(10.0)
    breaker.failure(11.0)  # opens at 11
    assert since.rows([("r1", breaker)], 20.0)[0].open_seconds == 9.0
    assert breaker.admit(41.0).probe
    breaker.failure(41.5)  # failed probe: open again, but down since 11
    (row,) = since.rows([("r1", breaker)], 100.0)
    assert row.open and row.open_seconds == 89.0
    breaker.success()
    assert not since.rows([("r1", breaker)], 101.0)[0].open
