"""What the notifier's gauges report: pending referrals by priority and state, and open breakers (pure).

`undelivered`: taken by the notifier and not delivered (first attempt, failing, parked for a retry,
held by its recipient's breaker, refused or dead-lettered). `unacknowledged`: delivered and awaiting an
acknowledgement. Both count from routing (the referral's `created_at`, where its SLA clock starts), and
either is overdue once older than the referral's acknowledgement SLA. Every priority and state is
reported, zeros included, so an alert on a priority never finds the series missing.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from services.notifier.breaker import CircuitBreaker, State
from services.notifier.dueindex import DueIndex, Lasting
from services.notifier.sla import AWAITING_ACK, NOT_DELIVERED, clock_start

PRIORITIES = ("P1", "P2", "P3", "P4")
UNDELIVERED = "undelivered"
UNACKNOWLEDGED = "unacknowledged"
STATES = (UNDELIVERED, UNACKNOWLEDGED)


@dataclass(frozen=True)
class PendingRow:
    """Referrals of one priority in one state (`undelivered` or `unacknowledged`) on this worker."""

    priority: str
    state: str
    count: int
    overdue: int
    oldest_age_s: float


@dataclass(frozen=True)
class BreakerRow:
    """One recipient's circuit breaker: open (not closed) or not, and since how many seconds."""

    recipient_id: str
    open: bool
    open_seconds: float


@dataclass(frozen=True)
class Waiting:
    """One pending referral: its priority, SLA and since when it waits (ms)."""

    priority: str
    state: str
    since_ms: int
    sla_seconds: int


def awaiting_ack(entry: Mapping[str, Any] | None) -> Waiting | None:
    """A `referral_state` entry as a pending referral (undelivered or unacknowledged), if it still awaits one."""
    if not entry or entry.get("status") not in AWAITING_ACK:
        return None
    state = UNDELIVERED if entry["status"] in NOT_DELIVERED else UNACKNOWLEDGED
    return Waiting(entry["priority"], state, clock_start(entry), int(entry["ack_sla_seconds"]))


def summarise(waiting: Iterable[Waiting], now_ms: int) -> list[PendingRow]:
    """One row per priority and state: how many, how many past their SLA, the oldest one's age (s)."""
    counts: dict[tuple[str, str], list[float]] = {(p, s): [0, 0, 0.0] for p in PRIORITIES for s in STATES}
    for w in waiting:
        row = counts.setdefault((w.priority, w.state), [0, 0, 0.0])
        age_s = max(0, now_ms - w.since_ms) / 1000
        row[0] += 1
        row[1] += 1 if w.sla_seconds > 0 and age_s > w.sla_seconds else 0
        row[2] = max(row[2], age_s)
    return [PendingRow(p, s, int(c), int(o), round(a, 3)) for (p, s), (c, o, a) in sorted(counts.items())]


Bucket = tuple[str, str]  # (priority, state)


Row = tuple[str, str, int, int]  # a Waiting's fields as a plain tuple: what the index and the tally keep per referral
PRIORITY: Final = 0  # a row's fields' places
STATE: Final = 1
SINCE: Final = 2
SLA: Final = 3


def row_of(w: Waiting) -> Row:
    """`w` as a plain tuple of scalars, which the garbage collector stops tracking (a dataclass it walks for ever)."""
    return (w.priority, w.state, w.since_ms, w.sla_seconds)


def _deadline(w: Row) -> int:
    """The last ms at which `w` is not overdue yet (its SLA > 0): overdue once `now_ms` is past it."""
    return w[SINCE] + w[SLA] * 1000


class PendingTally:
    """`summarise`'s rows kept up to date one referral at a time: a refresh costs the changes, not every referral.

    Per bucket: a count, a heap of the waiting since-times (the oldest; removed entries dropped when they
    surface), a heap of the SLA deadlines not passed yet and the set of referrals past theirs. Time only
    moves on (`rows` with an earlier `now_ms` starts over from the referrals: a clock stepped back). Each
    referral is kept as a plain tuple (`row_of`), so the rows it holds are not walked by a full collection.
    """

    def __init__(self, slack: int = 64) -> None:
        self._now: int | None = None  # the latest `rows` time
        self._slack = slack  # a heap is compacted once it holds more than twice its bucket's referrals + this
        self._clear()

    def _clear(self) -> None:
        self._of: dict[str, Row] = Lasting()  # each referral's row: a dict that stays old (dueindex.Lasting)
        self._count: dict[Bucket, int] = {}
        self._since: dict[Bucket, list[tuple[int, str]]] = {}
        self._deadlines: dict[Bucket, list[tuple[int, str]]] = {}
        self._overdue: dict[Bucket, set[str]] = {}

    def __len__(self) -> int:
        """How many referrals are tallied."""
        return len(self._of)

    def reset(self, items: Iterable[tuple[str, Waiting]]) -> None:
        """Tally exactly `items` (key, waiting)."""
        self._clear()
        for key, waiting in items:
            self.put(key, waiting)

    def put(self, key: str, waiting: Waiting | None) -> None:
        """`key` now waits as `waiting`; None: it no longer waits."""
        row = None if waiting is None else row_of(waiting)
        old = self._of.get(key)
        if old == row:  # a state write that changes nothing the gauges show
            return
        if old is not None:
            del self._of[key]
            bucket = (old[PRIORITY], old[STATE])
            self._count[bucket] -= 1
            self._overdue[bucket].discard(key)  # its heap items are dropped when they surface or compacted
        if row is None:
            return
        bucket = (row[PRIORITY], row[STATE])
        self._of[key] = row
        count = self._count[bucket] = self._count.get(bucket, 0) + 1
        overdue = self._overdue.setdefault(bucket, set())
        since = self._since.setdefault(bucket, [])
        heapq.heappush(since, (row[SINCE], key))
        if len(since) > 2 * count + self._slack:
            self._compact(since, bucket, lambda w: w[SINCE])
        if row[SLA] > 0:
            if self._now is not None and self._now > _deadline(row):
                overdue.add(key)
                return
            deadlines = self._deadlines.setdefault(bucket, [])
            heapq.heappush(deadlines, (_deadline(row), key))
            if len(deadlines) > 2 * count + self._slack:
                self._compact(deadlines, bucket, lambda w: _deadline(w) if w[SLA] > 0 else None, overdue)

    def _compact(
        self,
        heap: list[tuple[int, str]],
        bucket: Bucket,
        value: Callable[[Row], int | None],
        skip: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        """Keep one item per referral still in `bucket` with that value (not in `skip`): amortised O(1) a put."""
        kept: dict[str, tuple[int, str]] = {}
        for item in heap:
            w = self._live(item[1], bucket)
            if w is not None and value(w) == item[0] and item[1] not in skip:
                kept[item[1]] = item
        heap[:] = kept.values()
        heapq.heapify(heap)

    def _live(self, key: str, bucket: Bucket) -> Row | None:
        w = self._of.get(key)
        return w if w is not None and (w[PRIORITY], w[STATE]) == bucket else None

    def rows(self, now_ms: int) -> list[PendingRow]:
        """The same rows as `summarise(every waiting referral, now_ms)`."""
        if self._now is not None and now_ms < self._now:
            self._now = None
            self.reset([(key, Waiting(*row)) for key, row in self._of.items()])
        self._now = now_ms
        buckets = {(p, s) for p in PRIORITIES for s in STATES} | {b for b, n in self._count.items() if n}
        rows = []
        for bucket in sorted(buckets):
            count = self._count.get(bucket, 0)
            deadlines = self._deadlines.get(bucket, [])
            while deadlines and deadlines[0][0] < now_ms:
                deadline, key = heapq.heappop(deadlines)
                w = self._live(key, bucket)
                if w is not None and w[SLA] > 0 and _deadline(w) == deadline:
                    self._overdue[bucket].add(key)
            since = self._since.get(bucket, [])
            while since and ((w := self._live(since[0][1], bucket)) is None or w[SINCE] != since[0][0]):
                heapq.heappop(since)
            oldest = max(0, now_ms - since[0][0]) / 1000 if since and count else 0.0
            rows.append(PendingRow(bucket[0], bucket[1], count, len(self._overdue.get(bucket, ())), round(oldest, 3)))
        return rows


class PendingIndex(DueIndex[Row]):
    """The SLA timer's index, its payloads (each referral's `Waiting`) tallied for the gauges as they change.

    Payloads are kept as plain tuples (`row_of`): a referral's entry in the index is then a tuple of scalars,
    which the garbage collector stops tracking.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tally = PendingTally()

    def rebuild(  # type: ignore[override]  # takes Waiting payloads, keeps them as rows
        self, partitions: frozenset[int], items: Iterable[tuple[str, int | None, Waiting]]
    ) -> None:
        """Replace everything with `items` (key, due, waiting) of `partitions`."""
        items = list(items)
        super().rebuild(partitions, [(key, due, row_of(waiting)) for key, due, waiting in items])
        self.tally.reset((key, waiting) for key, _, waiting in items)

    def put(self, key: str, due: int | None, payload: Waiting | None) -> None:  # type: ignore[override]  # as rebuild
        """Track `key` due at `due` with `payload` (None: stop tracking it), and tally it."""
        super().put(key, due, None if payload is None else row_of(payload))
        self.tally.put(key, payload)


class OpenSince:
    """When each recipient's breaker was first seen not closed since it was last seen closed.

    A breaker goes OPEN → HALF_OPEN (probe) → OPEN again on every failed probe; the recipient has been
    down since the first opening, which is what "open for long" means. Observed at each look (the
    gauges' tick), so it is accurate to one tick.
    """

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def rows(self, breakers: Iterable[tuple[str, CircuitBreaker]], now: float) -> list[BreakerRow]:
        """Each recipient's breaker: open (open or probing) or closed, and for how long it has not been closed."""
        rows = []
        for recipient_id, breaker in sorted(breakers, key=lambda item: item[0]):
            if breaker.state is State.CLOSED:
                self._since.pop(recipient_id, None)
                rows.append(BreakerRow(recipient_id, False, 0.0))
                continue
            since = self._since.setdefault(recipient_id, min(now, breaker.opened_at or now))
            rows.append(BreakerRow(recipient_id, True, round(max(0.0, now - since), 3)))
        return rows
