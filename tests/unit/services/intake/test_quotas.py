"""Claim counts kept in the content entries (quotas.py): counted live, and the same rebuilt from the entries."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.correlate import Correlator, Entry
from services.intake.quotas import DAY_MS, ClaimQuotas, quota_of

T0 = 1_760_000_000_000 // DAY_MS * DAY_MS  # a midnight
AGENCIES = ["a", "b", "c"]


def entry(agency: str, at: int, report: str = "R") -> Entry:
    return Entry(f"case-{report}", at, agency, report)


def test_claims_are_numbered_per_agency_day_and_partition() -> None:
    q = ClaimQuotas()
    assert [q.take(quota_of("a", T0, 1)) for _ in range(3)] == [1, 2, 3]
    assert q.take(quota_of("a", T0, 2)) == 1 and q.take(quota_of("b", T0, 1)) == 1
    assert q.take(quota_of("a", T0 + DAY_MS, 1)) == 1
    assert q.used(quota_of("a", T0 + 5, 1)) == 3  # the same day


def test_a_restart_rebuilds_the_counts_from_the_largest_claim_no_and_a_replay_counts_nothing() -> None:
    q = ClaimQuotas()
    for _ in range(2):  # the changelog read twice (a partition recovered again): no double count
        q.restored("k1", {"agency_id": "a", "first_seen_ms": T0, "claim_no": 2}, 4)
        q.restored("k2", {"agency_id": "a", "first_seen_ms": T0 + 9, "claim_no": 5}, 4)
        q.restored("k3", {"agency_id": "a", "first_seen_ms": T0 + 9, "claim_no": 3}, 4)
    assert q.used(quota_of("a", T0, 4)) == 5
    assert q.take(quota_of("a", T0, 4)) == 6


def test_entries_written_before_claim_no_count_once_each() -> None:
    """The upgrade: entries of the former layout (the count was in the claims table) each count one claim."""
    q = ClaimQuotas()
    for key in ("k1", "k2", "k1"):
        q.restored(key, {"agency_id": "a", "first_seen_ms": T0, "case_id": "c", "report_id": "r"}, 0)
    assert q.used(quota_of("a", T0, 0)) == 2
    assert q.take(quota_of("a", T0, 0)) == 3
    q.restored("k9", "not an entry", 0)  # ignored here; the correlator rejects it when it reads the key
    q.restored("k8", {"agency_id": "a"}, 0)
    assert q.used(quota_of("a", T0, 0)) == 3


def test_partitions_no_longer_held_and_past_days_are_forgotten() -> None:
    q = ClaimQuotas()
    q.take(quota_of("a", T0, 1))
    q.take(quota_of("a", T0, 2))
    q.keep_only({2})
    assert q.used(quota_of("a", T0, 1)) == 0 and q.used(quota_of("a", T0, 2)) == 1
    q.take(quota_of("a", T0 + DAY_MS, 2))  # the next day: yesterday's count still holds (late claims)
    assert q.used(quota_of("a", T0, 2)) == 1
    q.take(quota_of("a", T0 + 2 * DAY_MS, 2))
    assert q.used(quota_of("a", T0, 2)) == 0 and q.used(quota_of("a", T0 + DAY_MS, 2)) == 1


claims = st.lists(
    st.tuples(
        st.integers(0, len(AGENCIES) - 1),  # agency
        st.integers(0, 40),  # key (its partition: key % 4)
        st.integers(0, 2 * DAY_MS - 1),  # first seen, since T0 (two days: the window below outlives them)
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(claims=claims, limit=st.integers(0, 6))
def test_the_counts_rebuilt_from_the_table_are_the_live_ones(claims: list[tuple[int, int, int]], limit: int) -> None:
    """Within the window no entry is overwritten: a worker restarted on the table refuses what the live one would."""
    table: dict[str, Any] = {}
    live = Correlator(table, window_ms=3 * DAY_MS, claim_limit=lambda _: limit)
    for agency, key, at in sorted(claims, key=lambda c: c[2]):
        live.claim([(f"k{key}", entry(AGENCIES[agency], T0 + at))], key % 4)
    restarted = ClaimQuotas()
    for key, value in table.items():
        restarted.restored(key, value, int(key[1:]) % 4)
    for agency in AGENCIES:
        for day in (0, 1):
            for partition in range(4):
                quota = quota_of(agency, T0 + day * DAY_MS, partition)
                assert restarted.used(quota) == live.quotas.used(quota) <= limit
