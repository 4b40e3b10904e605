"""Correlation with two intake workers: keys split between them, rebalances mid-flight, no case lost or doubled.

Real `faust worker` processes on the local broker. One worker alone holds every partition, so it
correlates every report here (no hop); a second worker joins while reports are in flight (a rebalance),
after which a report is correlated here only when its worker holds all its keys' partitions and through
the hops otherwise; then it leaves while a third agency's reports are in flight (another rebalance). Every
report of the second and third agency must still join the first agency's case, no report may open a second
case, and no case may stay pending.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import read_to_end, read_topic
from referral_bus.settings import KafkaSettings
from referral_bus.topic_catalog import changelog
from referral_devstack.workers import running
from services.intake.accept import case_id_for, report_key
from tests.support.reports import PII, valid_report

pytestmark = [pytest.mark.kafka]

AGENCY_A = "vn-hotline-111"
AGENCY_B = "platform-examplesocial"
AGENCY_C = "ngo-safe-online"
N = 8  # contents per phase
codec = Codec()


def content(n: int) -> list[tuple[str, str]]:
    """`n` sha256 digests and URLs no other test uses."""
    out = []
    for _ in range(n):
        token = uuid.uuid4().hex
        out.append((hashlib.sha256(token.encode()).hexdigest(), f"https://social.example.invalid/p/{token}"))
    return out


def report(agency: str, sha: str, url: str | None) -> dict[str, Any]:
    return valid_report(
        agency_id=agency,
        report_id=f"{agency[:3].upper()}-{uuid.uuid4().hex[:10]}",
        content_hashes=[{"algorithm": "sha256", "value": sha}],
        content_urls=[url] if url else [],
    )


async def send(kafka: str, reports: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        for r in reports:
            key = report_key(r["agency_id"], r["report_id"]).encode()
            await producer.send_and_wait(topics.name(topics.INTAKE), codec.encode("CaseReport", r), key=key)
    finally:
        await producer.stop()


async def cases_for(kafka: str, reports: list[dict[str, Any]], timeout: float = 120) -> list[dict[str, Any]]:
    """Every Case event on the cases topic, read until each of `reports` has one."""
    wanted = {r["report_id"] for r in reports}

    def decoded(rs: list[Any]) -> list[dict[str, Any]]:
        return [codec.decode(r.value, "Case") for r in rs]

    records = await read_topic(
        topics.name(topics.CASES),
        until=lambda rs: wanted <= {c["report"]["report_id"] for c in decoded(rs)},
        timeout=timeout,
        bootstrap=kafka,
    )
    cases = decoded(records)
    missing = wanted - {c["report"]["report_id"] for c in cases}
    assert not missing, f"{len(missing)} of {len(wanted)} reports have no Case after {timeout} s"
    return cases


def latest(records: list[Any]) -> dict[bytes, bytes | None]:
    """A compacted topic's state: the last value per key (None: deleted)."""
    return {r.key: r.value for r in records}


async def test_two_workers_split_the_keys_and_rebalances_mid_flight_lose_and_double_no_case(
    kafka: str, namespace: str
) -> None:
    ns_changelog = f"{namespace}.{changelog('intake', 'content')}"
    firsts = [report(AGENCY_A, sha, url) for sha, url in content(2 * N)]
    # the same content by another agency, the hash only (one key: here about half the time with two workers)
    seconds = [report(AGENCY_B, a["content_hashes"][0]["value"], None) for a in firsts]
    thirds = [report(AGENCY_C, a["content_hashes"][0]["value"], a["content_urls"][0]) for a in firsts]
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, "INTAKE_LOCAL_CORRELATION": "true"}  # the fast path (opt-in) under test
    with running(namespace, env, "intake", prefix="corr-split-") as workers:
        # one worker holds every partition: each report is correlated here, nothing hops
        await send(kafka, firsts[:N])
        await cases_for(kafka, firsts[:N])
        hops = await read_topic(topics.name(topics.CORRELATION), until=lambda rs: False, timeout=3, bootstrap=kafka)
        assert hops == []
        # a second worker joins while reports arrive: the partitions move mid-flight
        workers.start("intake", replica=1)
        await send(kafka, firsts[N:])
        workers.wait_ready(names=["intake-1"])
        await cases_for(kafka, firsts)
        # every first report's keys claimed before the second agency reports (otherwise either could be first)
        claimed = await read_topic(
            ns_changelog, until=lambda rs: len({r.key for r in rs}) >= 4 * N, timeout=60, bootstrap=kafka
        )
        assert len({r.key for r in claimed}) == 4 * N
        # two workers, keys split between them: some reports here, the others through the hops
        await send(kafka, seconds)
        await cases_for(kafka, seconds)
        for name in ("intake", "intake-1"):
            assert workers.procs[name].poll() is None, workers.tail(name)
        # the second worker leaves while a third agency reports the same content: its partitions move back
        await send(kafka, thirds[:N])
        workers.stop("intake-1")
        await send(kafka, thirds[N:])
        cases = await cases_for(kafka, thirds)
        assert workers.procs["intake"].poll() is None, workers.tail("intake")

    a_case = {a["report_id"]: case_id_for(AGENCY_A, a["report_id"]) for a in firsts}
    outcome: dict[str, set[tuple[str, bool]]] = {}
    for c in cases:
        outcome.setdefault(c["report"]["report_id"], set()).add((c["case_id"], c["is_update"]))
    for a, b, c in zip(firsts, seconds, thirds, strict=True):  # replays may repeat a Case event, never change it
        assert outcome[a["report_id"]] == {(a_case[a["report_id"]], False)}
        assert outcome[b["report_id"]] == {(a_case[a["report_id"]], True)}, "the second report joins the first case"
        assert outcome[c["report_id"]] == {(a_case[a["report_id"]], True)}, "so does the third"
    assert len(outcome) == 6 * N

    hops = await read_to_end(KafkaSettings(bootstrap_servers=kafka), topics.name(topics.CORRELATION))
    hopped = {json.loads(r.value)["report_id"] for r in hops if json.loads(r.value)["kind"] == "lookup"}
    assert hopped & {b["report_id"] for b in seconds}, "with keys split, some reports took the hops"
    assert {b["report_id"] for b in seconds} - hopped, "with keys split, some reports were correlated here"
    for r in hops:  # the hops carry ids and digests only
        text = r.value.decode("utf-8")
        for secret in [*PII.values(), "social.example"]:
            assert secret not in text
    # no case left waiting for a verdict: every pending entry was released, either way
    pending = latest(
        await read_to_end(KafkaSettings(bootstrap_servers=kafka), f"{namespace}.{changelog('intake', 'pending')}")
    )
    assert all(v is None for v in pending.values()), "a case stayed pending"
