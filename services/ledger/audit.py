"""Answers from the ledger: is it intact, who received which fields of a case, what did a recipient receive.

Pure: the CLI (`referral-bus audit`) reads the ledger topic and hands the decoded entries here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.ledger.chain import CHECKPOINT, DISCLOSURE, ERASURE, Head, Problem, fact_of, verify

Located = tuple[int, int | None, dict[str, Any]]  # (partition, offset, LedgerEntry)


@dataclass(frozen=True)
class Summary:
    """One partition of the ledger as verified."""

    partition: int
    entries: int
    head: Head
    checkpoints: int
    problems: list[Problem]


def verify_all(
    entries: Iterable[Located], *, key: bytes | None, anchors: dict[int, Head] | None = None, from_start: bool = True
) -> list[Summary]:
    """Every partition verified, in partition order (entries in topic order within each)."""
    by_partition: dict[int, list[tuple[int | None, dict[str, Any]]]] = defaultdict(list)
    for partition, offset, e in entries:
        by_partition[partition].append((offset, e))
    for p in anchors or {}:
        by_partition.setdefault(p, [])
    out = []
    for p in sorted(by_partition):
        items = by_partition[p]
        problems = verify(p, items, key=key, anchor=(anchors or {}).get(p), from_start=from_start)
        heads = [Head(int(e["seq"]), str(e["digest"])) for _, e in items if isinstance(e.get("seq"), int)]
        head = max(heads, key=lambda h: h.seq) if heads else Head()
        cps = sum(1 for _, e in items if e.get("kind") == CHECKPOINT)
        out.append(Summary(p, len(items), head, cps, problems))
    return out


def facts(entries: Iterable[Located]) -> list[dict[str, Any]]:
    """Each disclosure or erasure once (by entry id), with its ledger kind, partition and seq, by time."""
    seen: set[str] = set()
    out = []
    for partition, _, e in entries:
        if e.get("kind") not in (DISCLOSURE, ERASURE) or e.get("entry_id") in seen:
            continue
        seen.add(str(e.get("entry_id")))
        out.append({**fact_of(e), "kind": e["kind"], "partition": partition, "seq": e.get("seq")})
    return sorted(out, key=lambda f: (f.get("at") or f.get("requested_at") or 0, str(f.get("seq"))))


def for_case(
    entries: Iterable[Located],
    *,
    case_id: str | None = None,
    agency_id: str | None = None,
    report_id: str | None = None,
) -> list[dict[str, Any]]:
    """Disclosures and erasures of one case, found by case id or by (agency, report id)."""
    all_facts = facts(entries)
    cases = {case_id} if case_id else set()
    if agency_id and report_id:
        cases |= {
            f["case_id"] for f in all_facts if f.get("agency_id") == agency_id and f.get("report_id") == report_id
        }
    return [f for f in all_facts if f.get("case_id") in cases]


def for_recipient(
    entries: Iterable[Located], recipient_id: str, *, from_ms: int | None = None, to_ms: int | None = None
) -> list[dict[str, Any]]:
    """Disclosures to one recipient between two times (inclusive from, exclusive to)."""
    return [
        f
        for f in facts(entries)
        if f["kind"] == DISCLOSURE
        and f.get("recipient_id") == recipient_id
        and (from_ms is None or f["at"] >= from_ms)
        and (to_ms is None or f["at"] < to_ms)
    ]
