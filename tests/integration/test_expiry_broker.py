"""Expiry through a real intake worker: expired dedup and correlation entries are tombstoned, live ones kept.

Windows of 20 s, swept every second. Old reports are accepted; once the window has passed, new
reports reach every partition (the sweep of a partition runs while handling that partition's events).
The old entries must then be gone from the worker, with a tombstone as their last changelog record at
their own partition, and stay gone after a restart; the new ones stay. Functionally: an old report sent
again is accepted as a case again (its dedup mark expired), a new one is still a duplicate.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.workers import running
from services.intake.accept import dedup_key
from services.intake.content import content_keys
from tests.support.changelogs import changelog_records, latest, records
from tests.support.intake import Message, produce, wait_drained
from tests.support.polling import wait_for
from tests.support.reports import key_of, valid_report
from tests.support.soak import table_sizes

pytestmark = [pytest.mark.kafka]

WINDOW_S = 20
PARTITIONS = 4


def partition(key: bytes) -> int:
    """The partition the producers' default partitioner puts `key` in."""
    return int(DefaultPartitioner()(key, list(range(PARTITIONS)), list(range(PARTITIONS))))


def report() -> dict[str, Any]:
    """A valid report with one content key of its own (a URL) and no hash."""
    return valid_report(content_hashes=[], content_urls=[f"https://social.example.invalid/p/{uuid.uuid4().hex}"])


def digest(r: dict[str, Any]) -> str:
    return content_keys(r)[0].digest


def covering() -> list[dict[str, Any]]:
    """Reports that reach every partition of both the intake and the correlation topic."""
    out: list[dict[str, Any]] = []
    intake: set[int] = set()
    correlation: set[int] = set()
    while len(intake) < PARTITIONS or len(correlation) < PARTITIONS:
        r = report()
        p, q = partition(key_of(r)), partition(digest(r).encode())
        if p not in intake or q not in correlation:
            out.append(r)
            intake.add(p)
            correlation.add(q)
    return out


async def test_expired_entries_are_tombstoned_and_stay_gone_after_a_restart(kafka: str, namespace: str) -> None:
    codec = Codec()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "INTAKE_DEDUP_WINDOW_DAYS": f"{WINDOW_S / 86_400:.10f}",
        "INTAKE_CORRELATION_WINDOW_HOURS": f"{WINDOW_S / 3_600:.10f}",
        "INTAKE_EXPIRY_INTERVAL_SECONDS": "1",
        "INTAKE_REPLAY_GRACE_SECONDS": "0",  # expired at the window (the grace has a test of its own)
    }

    def messages(rs: list[dict[str, Any]]) -> list[Message]:
        return [Message(key_of(r), codec.encode("CaseReport", r), "accepted") for r in rs]

    old, new = covering(), covering()
    with running(namespace, env, "intake", prefix="expiry-") as workers:
        port = workers.ports["intake"]
        await produce(namespace, kafka, messages(old))
        await wait_drained(namespace, kafka)
        assert await wait_for(lambda: table_sizes(port).get("dedup") == len(old), 30)
        written = time.time()
        assert await wait_for(lambda: time.time() > written + WINDOW_S + 1, WINDOW_S + 10)  # the window passes
        await produce(namespace, kafka, messages(new))
        await wait_drained(namespace, kafka)

        def only_new() -> bool:
            sizes = table_sizes(port)
            return sizes.get("dedup") == len(new) and sizes.get("content") == len(new)

        assert await wait_for(only_new, 30), table_sizes(port)

        # a restart restores only the live entries: the expired ones have tombstones
        workers.stop("intake")
        workers.start("intake")
        workers.wait_ready(names=["intake"])
        assert await wait_for(only_new, 60), table_sizes(port)

        intake_at = {r.key: r.partition for r in await records(kafka, topics.name(topics.INTAKE))}
        dedup = latest(await changelog_records(kafka, "intake", "dedup"))
        content = latest(await changelog_records(kafka, "intake", "content"))
        for r in old + new:
            mark = dedup[dedup_key(r["agency_id"], r["report_id"])]
            claim = content[digest(r)]
            assert mark[0] == intake_at[key_of(r)] and claim[0] == partition(digest(r).encode())
            assert (mark[1] is None, claim[1] is None) == ((True, True) if r in old else (False, False))

        # an expired dedup mark no longer stops its report; a live one does
        await produce(namespace, kafka, messages([old[0], new[0]]))
        await wait_drained(namespace, kafka)
        cases = [codec.decode(c.value, "Case") for c in await records(kafka, topics.name(topics.CASES))]
        emitted = Counter(c["report"]["report_id"] for c in cases)
        assert (emitted[old[0]["report_id"]], emitted[new[0]["report_id"]]) == (2, 1)
        assert sum(emitted.values()) == len(old) + len(new) + 1
