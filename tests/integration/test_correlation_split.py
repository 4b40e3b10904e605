"""Correlation with two intake workers: keys split between them, rebalances mid-flight, no case lost or doubled.

Real `faust worker` processes on the local broker. One worker alone holds every partition, so it
correlates every report here (no hop); a second worker joins while reports are in flight (a rebalance),
after which a report is correlated here only when its worker holds all its keys' partitions and through
the hops otherwise; then it leaves while a third agency's reports are in flight (another rebalance). Every
report of the second and third agency must still join the first agency's case, no report may open a second
case, and no case may stay pending. The Cases are checked on the whole cases topic, read to its end: a read
that stops once some reports are seen may miss others' Cases on other partitions, and a failure names each
report, what became of it and what the workers logged of it.
"""

from __future__ import annotations

from typing import Any

import pytest

from referral_bus import topics
from referral_bus.settings import KafkaSettings
from referral_bus.topic_catalog import changelog
from referral_devstack.reading import read_to_end, read_topic
from referral_devstack.workers import running
from tests.support.reports import PII
from tests.support.splitcases import (
    AGENCY_A,
    AGENCY_B,
    AGENCY_C,
    content,
    explain,
    hopped,
    outcomes,
    report,
    send,
    wait_cases,
    wrong,
)

pytestmark = [pytest.mark.kafka]

N = 8  # contents per phase


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
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, "INTAKE_LOCAL_CORRELATION": "true"}  # the fast path, whatever the default
    with running(namespace, env, "intake", prefix="corr-split-") as workers:
        # one worker holds every partition: each report is correlated here, nothing hops
        await send(kafka, firsts[:N])
        await wait_cases(kafka, firsts[:N], workers)
        hops = await read_topic(topics.name(topics.CORRELATION), until=lambda rs: False, timeout=3, bootstrap=kafka)
        assert hops == []
        # a second worker joins while reports arrive: the partitions move mid-flight
        workers.start("intake", replica=1)
        await send(kafka, firsts[N:])
        workers.wait_ready(names=["intake-1"])
        await wait_cases(kafka, firsts, workers)
        # every first report's keys claimed before the second agency reports (otherwise either could be first)
        claimed = await read_topic(
            ns_changelog, until=lambda rs: len({r.key for r in rs}) >= 4 * N, timeout=60, bootstrap=kafka
        )
        assert len({r.key for r in claimed}) == 4 * N
        # two workers, keys split between them: some reports here, the others through the hops
        await send(kafka, seconds)
        await wait_cases(kafka, seconds, workers)
        for name in ("intake", "intake-1"):
            assert workers.procs[name].poll() is None, workers.tail(name)
        # the second worker leaves while a third agency reports the same content: its partitions move back
        await send(kafka, thirds[:N])
        workers.stop("intake-1")
        await send(kafka, thirds[N:])
        await wait_cases(kafka, thirds, workers)
        assert workers.procs["intake"].poll() is None, workers.tail("intake")
        # replays may repeat a Case event, never change it: each report's Cases, from the whole topic
        outcome = await outcomes(kafka)
        problems = wrong(outcome, firsts, seconds, thirds)
        assert not problems, explain(workers, problems)
    assert len(outcome) == 6 * N

    hop_ids, hop_texts = await hopped(kafka)
    assert hop_ids & {b["report_id"] for b in seconds}, "with keys split, some reports took the hops"
    assert {b["report_id"] for b in seconds} - hop_ids, "with keys split, some reports were correlated here"
    for text in hop_texts:  # the hops carry ids and digests only
        for secret in [*PII.values(), "social.example"]:
            assert secret not in text
    # no case left waiting for a verdict: every pending entry was released, either way
    pending = latest(
        await read_to_end(KafkaSettings(bootstrap_servers=kafka), f"{namespace}.{changelog('intake', 'pending')}")
    )
    assert all(v is None for v in pending.values()), "a case stayed pending"
