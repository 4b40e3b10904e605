"""Correlation claims per agency, day and partition: counted in the content entries, not in a table of their own.

Each entry a claim writes carries `claim_no`, its agency's running count of claims that day on that
partition (the entry's own changelog partition), so the entry and the quota it used are one changelog
record. The counts live in memory: raised on every claim, rebuilt on recovery from the entries (the
largest `claim_no` of each agency, day and partition; an entry written before `claim_no` existed counts
once), and dropped for partitions this worker no longer holds, and for days older than the day before the
newest one counted (as the claims table they replace expired after two days). A restarted worker finds
each day's count in the entry of that day's last claim while it lives: always with a correlation window
of a day or more (the default is 72 h); with a shorter one, a restart counts only the claims still in
the window (those expired hold no content key any more).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

DAY_MS = 86_400_000
CLAIM_NO = "claim_no"  # the field of a content entry that carries its agency's count

Quota = tuple[str, int, int]  # agency id, day (days since the epoch of the entry's first_seen_ms), partition


def quota_of(agency_id: str, first_seen_ms: int, partition: int) -> Quota:
    """The quota a claim of `agency_id` with `first_seen_ms` on `partition` counts against."""
    return agency_id, first_seen_ms // DAY_MS, partition


class ClaimQuotas:
    """Claims made per (agency, day, partition), derived from the content entries (a `tables.Derived`)."""

    def __init__(self) -> None:
        self._used: dict[Quota, int] = {}
        self._unnumbered: dict[Quota, set[Hashable]] = {}  # entries from before `claim_no`: each counts once
        self._newest_day = 0

    def used(self, quota: Quota) -> int:
        """Claims counted against `quota` so far."""
        return max(self._used.get(quota, 0), len(self._unnumbered.get(quota, ())))

    def take(self, quota: Quota) -> int:
        """Count one more claim against `quota`; its number (the `claim_no` of the entry it writes)."""
        number = self.used(quota) + 1
        self._used[quota] = number
        if quota[1] > self._newest_day:
            self._newest_day = quota[1]
            self._forget_before(quota[1] - 1)
        return number

    def restored(self, key: Hashable, value: Any, partition: int) -> None:
        """A content entry recovered from changelog `partition`: its count (idempotent: a replay counts nothing)."""
        if not isinstance(value, dict):
            return
        try:
            quota = quota_of(str(value["agency_id"]), int(value["first_seen_ms"]), partition)
            number = value.get(CLAIM_NO)
            if number is None:
                self._unnumbered.setdefault(quota, set()).add(key)
            else:
                self._used[quota] = max(self._used.get(quota, 0), int(number))
        except (KeyError, TypeError, ValueError):
            return  # not an entry: the correlator reports it when it reads the key

    def keep_only(self, partitions: set[int]) -> None:
        """Forget the counts of partitions this worker no longer holds (their next owner rebuilds them)."""
        for counts in (self._used, self._unnumbered):
            for quota in [q for q in counts if q[2] not in partitions]:
                del counts[quota]

    def _forget_before(self, day: int) -> None:
        """Drop the counts of days before `day`."""
        for counts in (self._used, self._unnumbered):
            for quota in [q for q in counts if q[1] < day]:
                del counts[quota]
