"""Two intake workers correlating one content pool: reports, their Cases, and what a failure must show.

Shared by tests/integration/test_correlation_split.py (rebalances by join and leave) and
tests/faults/test_correlation_frozen.py (a worker frozen past its group session).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import key_partition
from referral_bus.settings import KafkaSettings
from referral_devstack.reading import read_to_end, read_topic
from referral_devstack.workers import Workers
from services.intake.accept import case_id_for, report_key
from tests.support.reports import valid_report

AGENCY_A = "vn-hotline-111"
AGENCY_B = "platform-examplesocial"
AGENCY_C = "ngo-safe-online"
codec = Codec()
Outcome = dict[str, set[tuple[str, bool]]]  # report id → every (case id, is_update) of its Case events


def content(n: int) -> list[tuple[str, str]]:
    """`n` sha256 digests and URLs no other test uses."""
    out = []
    for _ in range(n):
        token = uuid.uuid4().hex
        out.append((hashlib.sha256(token.encode()).hexdigest(), f"https://social.example.invalid/p/{token}"))
    return out


def report(agency: str, sha: str, url: str | None) -> dict[str, Any]:
    """A valid report of `agency` about one hash (and URL)."""
    return valid_report(
        agency_id=agency,
        report_id=f"{agency[:3].upper()}-{uuid.uuid4().hex[:10]}",
        content_hashes=[{"algorithm": "sha256", "value": sha}],
        content_urls=[url] if url else [],
    )


async def send(kafka: str, reports: list[dict[str, Any]]) -> None:
    """To the shared intake topic, keyed as intake keys them."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        for r in reports:
            key = report_key(r["agency_id"], r["report_id"]).encode()
            await producer.send_and_wait(topics.name(topics.INTAKE), codec.encode("CaseReport", r), key=key)
    finally:
        await producer.stop()


def _report_ids(records: list[Any]) -> set[str]:
    return {codec.decode(r.value, "Case")["report"]["report_id"] for r in records}


async def wait_cases(kafka: str, reports: list[dict[str, Any]], workers: Workers, timeout: float = 120) -> None:
    """Wait until each of `reports` has a Case; otherwise fail naming them, with what the workers logged of them."""
    wanted = {r["report_id"] for r in reports}
    records = await read_topic(
        topics.name(topics.CASES), until=lambda rs: wanted <= _report_ids(rs), timeout=timeout, bootstrap=kafka
    )
    missing = wanted - _report_ids(records)
    assert not missing, f"{len(missing)} of {len(wanted)} reports have no Case after {timeout} s\n" + trace(
        workers, [r for r in reports if r["report_id"] in missing]
    )


async def outcomes(kafka: str) -> Outcome:
    """Every Case event on the cases topic, read to its end (not only until some reports are seen)."""
    out: Outcome = {}
    for record in await read_to_end(KafkaSettings(bootstrap_servers=kafka), topics.name(topics.CASES), timeout=60):
        case = codec.decode(record.value, "Case")
        out.setdefault(case["report"]["report_id"], set()).add((case["case_id"], case["is_update"]))
    return out


def wrong(
    outcome: Outcome, firsts: list[dict[str, Any]], *later: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], str]]:
    """Each report whose Cases differ from the promise: a first opens its own case, every later one joins it.

    Replays may repeat a Case event, never change it: a report with two different Case events is wrong too.
    """
    problems = []
    for i, first in enumerate(firsts):
        own = case_id_for(first["agency_id"], first["report_id"])
        expected = [(first, {(own, False)})] + [(reports[i], {(own, True)}) for reports in later]
        for r, want in expected:
            got = outcome.get(r["report_id"], set())
            if got != want:
                seen = "no Case" if not got else ", ".join(sorted(f"{c}{' (update)' if u else ''}" for c, u in got))
                problems.append((r, f"{r['agency_id']} {r['report_id']}: wanted {sorted(want)}, got {seen}"))
    return problems


def explain(workers: Workers, problems: list[tuple[dict[str, Any], str]]) -> str:
    """Each wrong report and what the workers logged of the first few."""
    return "\n".join(text for _, text in problems) + "\n" + trace(workers, [r for r, _ in problems])


def trace(workers: Workers, reports: list[dict[str, Any]], limit: int = 5) -> str:
    """The worker log lines that name the first `limit` of `reports` (by report or case id): where each stopped."""
    lines = []
    partitions = KafkaSettings().topic_partitions
    for r in reports[:limit]:
        ids = (r["report_id"], case_id_for(r["agency_id"], r["report_id"]))
        where = key_partition(report_key(r["agency_id"], r["report_id"]).encode(), partitions)
        lines.append(f"--- {r['agency_id']} {r['report_id']} ({ids[1]}, intake partition {where})")
        found = []
        for name in sorted(workers.ports):
            path = workers.log_path(name)
            text = path.read_text(errors="replace") if path.exists() else ""
            found += [f"{name}: {line[:300]}" for line in text.splitlines() if any(i in line for i in ids)]
        # nothing logged: no worker read the report (a partition read from past it after a rebalance)
        lines += found or [f"no worker logged it: never read from intake partition {where}"]
    return "\n".join(lines)


async def hopped(kafka: str) -> tuple[set[str], list[str]]:
    """The report ids that took lookup hops, and every hop's text (for the privacy check)."""
    hops = await read_to_end(KafkaSettings(bootstrap_servers=kafka), topics.name(topics.CORRELATION))
    ids = {json.loads(r.value)["report_id"] for r in hops if json.loads(r.value)["kind"] == "lookup"}
    return ids, [r.value.decode("utf-8") for r in hops]
