"""Staged writes through real Faust: a burst, each mark in its own event's changelog partition, a restart, a rerun.

Several hundred reports wait on the intake topic before intake starts, so intake handles hundreds of
events before the first producer batch of their outputs is acknowledged: their dedup marks and
correlation claims are all written from one drain of the in-flight queue (the case that used to write
them in another event's context). Routing then hands the notifier a burst of referrals the same way.
Afterwards every mark must be in its changelog at the partition of the event that made it (that is
where the worker owning the partition after a restart looks), the restarted workers must hold every
mark again, and a second run of the same reports and referrals must produce no case and no delivery.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import key_partition
from referral_bus.settings import KafkaSettings
from referral_devstack.workers import temp_workdir
from services.intake.accept import dedup_key
from services.notifier.delivered import MARK
from tests.support.changelogs import changelog_records, latest, partitions_by_key, records, table_key, wait_committed
from tests.support.harness import Stack, drain, ensure_namespace_topics, generate, produce_raw
from tests.support.lanes import lane_names
from tests.support.polling import wait_for
from tests.support.soak import table_sizes

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

N = 400
STATE_ERRORS = ("state update after send failed", "state write not acknowledged", "neither finished")


async def _caught_up(stack: Stack) -> None:
    ns, kafka = stack.namespace, stack.bootstrap
    await wait_committed(
        kafka, f"{ns}.referral-bus-intake", [topics.name(topics.INTAKE), topics.name(topics.CORRELATION)]
    )
    await wait_committed(kafka, f"{ns}.referral-bus-routing", [topics.name(topics.CASES)])
    await wait_committed(kafka, f"{ns}.referral-bus-notifier", list(lane_names()))


async def test_a_burst_of_staged_writes_lands_in_each_events_partition_and_survives_a_restart(
    kafka: str, namespace: str
) -> None:
    codec = Codec()
    with temp_workdir("staged-") as work:
        stack = Stack(work=Path(work), namespace=namespace, bootstrap=kafka)
        try:
            await ensure_namespace_topics(kafka)
            await stack.start(services=("routing", "notifier"))
            assert stack.directory is not None
            stream = generate(N, stack.directory, seed=4, duplicate_ratio=0.0, invalid_ratio=0.0)
            # the burst: every report is on the topic before intake reads the first one
            await produce_raw(kafka, topics.name(topics.INTAKE), [(k, v, None) for k, v in stream.records])
            await stack.start_worker("intake")
            assert await drain(stack, stream, 300.0), "not every referral was delivered"
            await _caught_up(stack)
            first_cases = len(await records(kafka, topics.name(topics.CASES)))
            first_deliveries = len(stack.receiver.deliveries())

            # 1. every mark is in its changelog, at the partition of the event that made it
            intake_at = {r.key: r.partition for r in await records(kafka, topics.name(topics.INTAKE))}
            dedup = latest(await changelog_records(kafka, "intake", "dedup"))
            for report_key, case_id in stream.valid.items():
                agency, report_id = report_key.split("/", 1)
                partition, value = dedup[dedup_key(agency, report_id)]
                assert partition == intake_at[report_key.encode()]
                assert value is not None and json.loads(value) == case_id

            hops = {
                k.decode(): p
                for k, p in partitions_by_key(await records(kafka, topics.name(topics.CORRELATION))).items()
            }
            claims = {
                table_key(k): p
                for k, p in partitions_by_key(await changelog_records(kafka, "intake", "content")).items()
            }
            assert len(claims) >= N  # every content key claimed, in its key's partition of the correlation
            # topic, whichever path claimed it: here (one intake worker holds every partition) or after hops
            count = KafkaSettings().topic_partitions
            assert all(claims[k] == {key_partition(k.encode(), count)} for k in claims)
            assert all(claims[k] == hops[k] for k in hops)

            referral_at = {
                codec.decode(r.value, "Referral")["referral_id"]: r.partition
                for lane in lane_names()
                for r in await records(kafka, lane)
            }
            # the delivered-once mark rides in the referral's state record (services/notifier/delivered.py)
            state = latest(await changelog_records(kafka, "notifier", "referral_state"))
            rids = {d.json()["referral_id"] for d in stack.receiver.deliveries()}
            # every report's own referrals (drain), and holders' updates for the linked reports that joined a
            # case: correlated on one worker, a linked report now finds its first report even within the burst
            assert len(rids) >= len(stream.expected)
            for rid in rids:
                partition, value = state[rid]
                assert partition == referral_at[rid] and value is not None and json.loads(value)[MARK] is not None

            # 2. restarted workers hold every mark again (recovered from those partitions)
            for name in ("intake", "notifier"):
                await stack.stop_worker(name)
                await stack.start_worker(name)
            ports = stack.workers.ports if stack.workers else {}

            def recovered() -> bool:
                intake, notifier = table_sizes(ports["intake"]), table_sizes(ports["notifier"])
                return (
                    intake.get("dedup") == len(stream.valid)
                    and intake.get("content") == len(claims)
                    and notifier.get("referral_state") == len([v for _, v in state.values() if v is not None])
                )

            assert await wait_for(recovered, 120), (table_sizes(ports["intake"]), table_sizes(ports["notifier"]))

            # 3. the same reports and the same referrals again: no case, no delivery
            await produce_raw(kafka, topics.name(topics.INTAKE), [(k, v, None) for k, v in stream.records])
            for lane in lane_names():  # every referral again, on its own lane
                replay = await records(kafka, lane)
                await produce_raw(kafka, lane, [(r.key, r.value, r.partition) for r in replay])
            await _caught_up(stack)
            assert len(await records(kafka, topics.name(topics.CASES))) == first_cases
            assert len(stack.receiver.deliveries()) == first_deliveries
            logs = b"".join(p.read_bytes() for p in Path(work).glob("*.log")).decode(errors="replace")
            assert not [e for e in STATE_ERRORS if e in logs]
        finally:
            stack.close_sync()
