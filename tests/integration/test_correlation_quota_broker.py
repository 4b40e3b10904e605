"""The daily claim count lives in the correlation entries: one changelog record per claim, read back after a restart.

A real intake worker on the local broker, an agency allowed one claim per day per correlation partition:
its first report claims a key (the entry carries `claim_no` 1; there is no claims table any more), the
worker is replaced, and the new worker, with nothing but the `content` changelog, refuses the agency's
next claim on that partition and still links another agency's report to the first key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import key_partition
from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_bus.topic_catalog import changelog
from referral_devstack.workers import running
from services.intake.accept import case_id_for
from services.intake.content import hash_key
from tests.support.agency_reports import report_with, send_report
from tests.support.changelogs import changelog_records, latest, records

pytestmark = [pytest.mark.kafka]

AGENCY_A = "vn-hotline-111"  # one claim per day per partition here
AGENCY_B = "platform-examplesocial"
codec = Codec()


async def cases_of(kafka: str, *report_ids: str, timeout: float = 90) -> dict[str, tuple[str, bool]]:
    """Report id → (case id, is_update) of the Case events on the cases topic, polled until every one is there."""
    deadline, got = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        cases = [codec.decode(r.value, "Case") for r in await records(kafka, topics.name(topics.CASES))]
        got = {c["report"]["report_id"]: (c["case_id"], c["is_update"]) for c in cases}
        if set(report_ids) <= set(got):
            return got
        await asyncio.sleep(0.5)  # the poll's interval
    raise AssertionError(f"no Case for {sorted(set(report_ids) - set(got))} within {timeout:g} s")


def two_shas_on_one_partition(partitions: int) -> tuple[str, str]:
    """Two fresh sha256 values whose content keys hash to the same correlation partition."""
    first = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    want = key_partition(hash_key("sha256", first).digest.encode(), partitions)
    while True:
        other = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        if key_partition(hash_key("sha256", other).digest.encode(), partitions) == want:
            return first, other


async def test_a_restarted_worker_keeps_the_days_claim_count_from_the_content_entries(
    kafka: str, namespace: str, tmp_path: Path
) -> None:
    registry = yaml.safe_load((REPO_ROOT / "config" / "agencies.yaml").read_text(encoding="utf-8"))
    for agency in registry["agencies"]:
        if agency["id"] == AGENCY_A:
            agency["correlation_claims_per_day"] = 1  # per_partition: one claim a day on each partition
    agencies = tmp_path / "agencies.yaml"
    agencies.write_text(yaml.safe_dump(registry), encoding="utf-8")
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, "INTAKE_AGENCIES_PATH": str(agencies)}
    partitions = KafkaSettings().topic_partitions
    sha1, sha2 = two_shas_on_one_partition(partitions)
    unique = f"https://social.example.invalid/p/{uuid.uuid4().hex}"
    a1 = report_with(AGENCY_A, sha1, unique + "/1")
    a2 = report_with(AGENCY_A, sha2, unique + "/2")
    b1 = report_with(AGENCY_B, sha1, unique + "/b1")
    b2 = report_with(AGENCY_B, sha2, unique + "/b2")

    with running(namespace, env, "intake", prefix="quota-") as workers:
        await send_report(kafka, a1)
        await cases_of(kafka, a1["report_id"])
        assert workers.procs["intake"].poll() is None, workers.tail("intake")

    content = latest(await changelog_records(kafka, "intake", "content"))
    key1 = hash_key("sha256", sha1).digest
    _, raw = content[key1]
    assert raw is not None
    entry = json.loads(raw)
    assert entry["claim_no"] == 1 and entry["agency_id"] == AGENCY_A, entry
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        assert topics.name(changelog("intake", "claims")) not in await admin.list_topics(), "no claims table"
    finally:
        await admin.close()

    with running(namespace, env, "intake", prefix="quota-") as workers:  # a new worker: the table from its changelog
        await send_report(kafka, a2)  # the same partition, the same day: over the limit, not claimed
        await cases_of(kafka, a2["report_id"])
        workers.wait_ready()
        await send_report(kafka, b1)
        await send_report(kafka, b2)
        got = await cases_of(kafka, b1["report_id"], b2["report_id"])
        assert workers.procs["intake"].poll() is None, workers.tail("intake")

    assert got[b1["report_id"]] == (case_id_for(AGENCY_A, a1["report_id"]), True), "the recovered entry links"
    assert got[b2["report_id"]] == (case_id_for(AGENCY_B, b2["report_id"]), False), "a2's claim was refused"
    content = latest(await changelog_records(kafka, "intake", "content"))
    _, raw = content[hash_key("sha256", sha2).digest]
    assert raw is not None and json.loads(raw)["agency_id"] == AGENCY_B, "the key went to the next agency's claim"
