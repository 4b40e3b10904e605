"""Correlation without Kafka: one report driven through its hops, verdict and claims as the topics would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.intake.accept import report_key
from services.intake.correlate import Claim, Correlator, Decided, Forward, Lookup, Verdict


def through_hops(
    correlator: Correlator,
    case: dict[str, Any],
    *,
    hops: list[bytes] | None = None,
    partition_of: Callable[[str], int] = lambda _digest: 0,
) -> Decided | None:
    """The decision for one report; each claim applied in its key's partition (`partition_of(digest)`).

    `hops` collects every correlation-topic message sent for the report (to check what they carry).
    """
    first = correlator.start(case)
    if first is None:
        return None
    queue: list[Forward] = [first]
    decided: Decided | None = None
    while queue:
        msg = queue.pop(0)
        if hops is not None:
            hops.append(msg.value)
        step = correlator.handle(msg.value)
        if isinstance(step, Forward):
            queue.append(step)
        elif isinstance(step, Claim):
            correlator.claim(step.local, partition_of(msg.key.decode()))
        else:
            assert isinstance(step, Verdict) and decided is None, "one verdict per report"
            assert step.key == report_key(case["report"]["agency_id"], case["report"]["report_id"]).encode()
            decided = correlator.decide(case, verdict_of(correlator, step.value))
            queue.extend(decided.claims)
    assert decided is not None
    return decided


def verdict_of(correlator: Correlator, value: bytes) -> Lookup:
    """The verdict a verdicts-topic message carries (not a legacy restart)."""
    out = correlator.verdict(value)
    assert isinstance(out, Lookup)
    return out
