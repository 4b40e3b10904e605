"""Correlation here (`Correlator.decide_here`) against the hop path: same verdicts, same tables, same partitions.

Sequences of reports from a few agencies over a small pool of content, with tight claim limits and a short
window, are run three ways: every report through the hops (as the topics would carry them, each claim
applied in its key's partition), every report here, and each report either way at random (a worker that
holds some keys and not others, or an assignment that changes between reports). Verdicts, the content
table (with each entry's claim count) and the changelog partition of every entry must be identical.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from referral_bus.kafka import key_partition
from services.intake.accept import case_id_for
from services.intake.content import content_keys
from services.intake.correlate import Correlator, Decided
from tests.support.correlation import through_hops
from tests.support.reports import valid_report

HOUR_MS = 3_600_000
T0 = 1_760_000_000_000
PARTITIONS = 3
AGENCIES = ["vn-hotline-111", "platform-examplesocial", "ngo-safe-online"]
SHAS = [f"{i:02x}" * 32 for i in range(4)]
URLS = [f"https://social.example.invalid/p/{i}" for i in range(3)]


class Parted(dict[str, Any]):
    """A table that records the changelog partition of each write (`put_in`, as `tables.Table` does)."""

    def __init__(self) -> None:
        super().__init__()
        self.where: dict[str, int] = {}

    def put_in(self, partition: int, key: str, value: Any) -> None:
        self[key] = value
        self.where[key] = partition


@dataclass(frozen=True)
class Report:
    agency: int
    shas: tuple[int, ...]
    urls: tuple[int, ...]
    after_hours: int  # since the previous report
    here: bool  # in the mixed run: decided here (else through the hops)


reports = st.builds(
    Report,
    agency=st.integers(0, len(AGENCIES) - 1),
    shas=st.lists(st.integers(0, len(SHAS) - 1), max_size=2, unique=True).map(tuple),
    urls=st.lists(st.integers(0, len(URLS) - 1), max_size=2, unique=True).map(tuple),
    after_hours=st.integers(0, 30),
    here=st.booleans(),
)


def partition_of(digest: str) -> int:
    """The correlation partition of a content key, as the producer's partitioner picks it."""
    return key_partition(digest.encode(), PARTITIONS)


def cases_of(seq: list[Report]) -> list[dict[str, Any]]:
    out, at = [], T0
    for n, r in enumerate(seq):
        at += r.after_hours * HOUR_MS
        agency, report_id = AGENCIES[r.agency], f"R-{n}"
        report = valid_report(
            agency_id=agency,
            report_id=report_id,
            content_hashes=[{"algorithm": "sha256", "value": SHAS[i]} for i in r.shas],
            content_urls=[URLS[i] for i in r.urls],
        )
        out.append(
            {
                "case_id": case_id_for(agency, report_id),
                "accepted_at": at,
                "report": report,
                "linked_reports": [],
                "is_update": False,
            }
        )
    return out


def here(correlator: Correlator, case: dict[str, Any]) -> Decided | None:
    keys = content_keys(case["report"])
    if not keys:
        return None
    return correlator.decide_here(case, keys, {k.digest: partition_of(k.digest) for k in keys})


def run(
    seq: list[Report], cases: list[dict[str, Any]], mode: str, *, window_hours: int, limits: list[int]
) -> tuple[Any, ...]:
    """Verdicts and table contents (with each entry's partition) after the reports, in `mode`."""
    content = Parted()
    correlator = Correlator(content, window_ms=window_hours * HOUR_MS, claim_limit=lambda a: limits[AGENCIES.index(a)])
    verdicts = []
    for r, case in zip(seq, cases, strict=True):
        local = mode == "here" or (mode == "mixed" and r.here)
        step = here(correlator, case) if local else through_hops(correlator, case, partition_of=partition_of)
        verdicts.append(None if step is None else (step.case_id, step.linked, step.case))
    return verdicts, dict(content), content.where, correlator.refused_claims


@settings(max_examples=300, deadline=None)
@given(
    seq=st.lists(reports, max_size=12),
    window_hours=st.integers(1, 72),
    limits=st.lists(st.integers(0, 3), min_size=len(AGENCIES), max_size=len(AGENCIES)),
)
def test_here_and_hops_give_the_same_verdicts_and_tables(
    seq: list[Report], window_hours: int, limits: list[int]
) -> None:
    cases = cases_of(seq)  # once: the factory stamps times from the clock
    hops = run(seq, cases, "hops", window_hours=window_hours, limits=limits)
    assert run(seq, cases, "here", window_hours=window_hours, limits=limits) == hops
    assert run(seq, cases, "mixed", window_hours=window_hours, limits=limits) == hops
    event(f"linked: {any(v is not None and v[1] for v in hops[0])}, refused: {hops[-1] > 0}")


def test_every_entry_and_quota_lands_in_its_keys_partition() -> None:
    """Here, a key's entry, with its agency's claim count on the key's partition, goes to that partition."""
    content = Parted()
    correlator = Correlator(content, window_ms=72 * HOUR_MS)
    (case,) = cases_of([Report(0, (0, 1, 2, 3), (0, 1, 2), 0, True)])
    step = here(correlator, case)
    assert step is not None and not step.linked and step.claims == []
    digests = [k.digest for k in content_keys(case["report"])]
    assert set(content) == set(digests)
    assert content.where == {d: partition_of(d) for d in digests}
    assert len({partition_of(d) for d in digests}) > 1, "the example spans partitions"
    for partition in {partition_of(d) for d in digests}:  # numbered 1, 2, … per partition, in claim order
        mine = [d for d in digests if partition_of(d) == partition]
        assert [content[d]["claim_no"] for d in mine] == list(range(1, len(mine) + 1))


def test_a_second_agency_links_here_as_through_the_hops() -> None:
    content = Parted()
    correlator = Correlator(content, window_ms=72 * HOUR_MS)
    first, second = cases_of([Report(0, (1,), (), 0, True), Report(1, (1,), (2,), 1, True)])
    assert here(correlator, first) is not None
    step = here(correlator, second)
    assert step is not None and step.linked
    assert step.case_id == first["case_id"]
    assert step.case["linked_reports"] == [{"agency_id": AGENCIES[1], "report_id": "R-1", "matched_on": "hash"}]


@dataclass(frozen=True)
class Replay:
    """A report handled a second time `after` reports later (a rebalance or a frozen worker's replay), either way."""

    report: int  # index of the report replayed (modulo the sequence's length)
    after: int  # how many later reports come first
    here: bool  # the replay is decided here (else through the hops)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.lists(reports, min_size=1, max_size=12),
    replays=st.lists(st.builds(Replay, st.integers(0, 11), st.integers(0, 11), st.booleans()), max_size=6),
)
def test_a_replayed_report_gets_the_same_case_on_either_path(seq: list[Report], replays: list[Replay]) -> None:
    """At-least-once: a report handled again (re-accepted later, on a worker whose dedup mark is missing),
    here or through the hops, whatever came in between, gets the Case it got the first time.

    Why it matters: after a rebalance, and for a worker frozen past its group session (a zombie for a
    moment), the same report can be decided twice, by two workers and two paths; both Case events must
    agree (tests/faults/test_correlation_frozen.py). Claims unlimited and a window longer than the sequence.
    """
    seq = [replace(r, after_hours=min(r.after_hours, 5)) for r in seq]  # 12 × 5 h < the 72-h window
    cases = cases_of(seq)
    correlator = Correlator(Parted(), window_ms=72 * HOUR_MS)
    due: dict[int, list[Replay]] = {}
    for replay in replays:
        due.setdefault(min(replay.report % len(seq) + replay.after, len(seq) - 1), []).append(replay)
    first: dict[int, tuple[str, bool] | None] = {}
    for n, (r, case) in enumerate(zip(seq, cases, strict=True)):
        step = here(correlator, case) if r.here else through_hops(correlator, case, partition_of=partition_of)
        first[n] = None if step is None else (step.case_id, step.linked)
        for replay in due.get(n, []):
            i = replay.report % len(seq)
            again = {**cases[i], "accepted_at": case["accepted_at"]}  # re-accepted now, same deterministic case id
            step = (
                here(correlator, again) if replay.here else through_hops(correlator, again, partition_of=partition_of)
            )
            assert (None if step is None else (step.case_id, step.linked)) == first[i]
