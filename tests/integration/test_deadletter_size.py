"""A report just under the production size limit: its dead letter still fits, the partition moves on.

The test topics are created with the production `max.message.bytes` (deploy/k8s), so the shared local
broker enforces the production limit here whatever its own default is.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.deadletter import dead_letter
from referral_bus.errors import UndecodableError
from referral_bus.message import SourceMessage
from referral_bus.settings import REPO_ROOT
from referral_cli.main import main as cli
from referral_devstack.reading import read_topic
from referral_devstack.workers import running
from tests.support.harness import produce_raw
from tests.support.reports import key_of, valid_report

pytestmark = [pytest.mark.kafka]


def production_limit() -> int:
    """message.max.bytes of the production Kafka cluster manifest."""
    docs = yaml.safe_load_all((REPO_ROOT / "deploy" / "k8s" / "base" / "kafka" / "kafka.yaml").read_text())
    kafka = next(d for d in docs if d and d.get("kind") == "Kafka")
    return int(kafka["spec"]["kafka"]["config"]["message.max.bytes"])


async def create_with_limit(kafka: str, names: list[str], limit: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(n, 4, 1, topic_configs={**topics.created_config(n), "max.message.bytes": str(limit)})
                for n in names
            ]
        )
    finally:
        await admin.close()


def near_limit_report(size: int) -> bytes:
    """A CaseReport encoded in exactly `size` bytes, most of them its narrative."""
    base = len(Codec().encode("CaseReport", valid_report(narrative="")))
    n = size - base
    while len(data := Codec().encode("CaseReport", valid_report(narrative="n" * n))) != size:
        n += size - len(data)
    return data


def test_a_near_limit_message_is_dead_lettered_under_the_limit_and_the_worker_goes_on(
    kafka: str, namespace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limit = production_limit()
    assert limit < 1_100_000  # about 1 MiB, as the manifests say
    intake, letters = topics.name(topics.INTAKE), topics.name(topics.DEADLETTER)
    asyncio.run(create_with_limit(kafka, [intake, letters, topics.name(topics.CASES)], limit))
    report = valid_report()
    headers = [("agency-batch", b"b" * 300)]
    junk = near_limit_report(limit - 520)  # a narrative far over its 20,000-character bound: invalid_field
    # the record fits the limit (with room for the replay headers), its dead letter whole would not
    assert len(key_of(report)) + len(junk) + 312 + 61 + 100 < limit
    whole = dead_letter(
        SourceMessage(intake, 0, 0, key_of(report), junk, tuple(headers)), "intake", UndecodableError("x")
    )
    assert len(Codec().encode("DeadLetter", whole)) + len(key_of(report)) + 61 > limit  # 61: record batch header
    with running(namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka}, "intake", prefix="dlsize-") as workers:
        asyncio.run(
            produce_raw(
                kafka,
                intake,
                [
                    (key_of(report), junk, None, headers),
                    (key_of(report), Codec().encode("CaseReport", report), None, []),
                ],
                max_request_size=4 * 1_048_576,
            )
        )
        cases = asyncio.run(read_topic(topics.name(topics.CASES), until=lambda rs: len(rs) >= 1, timeout=120))
        dead = asyncio.run(read_topic(letters, until=lambda rs: len(rs) >= 1, timeout=60))
        assert workers.procs["intake"].poll() is None, "the worker must not exit"
        assert len(dead) == 1 and len(cases) == 1  # the partition moved on past the failing message
        assert len(dead[0].value) < limit
        letter = Codec().decode(dead[0].value, "DeadLetter")
        assert letter["reason"] == "invalid_field" and letter["field"] == "narrative"
        (cut,) = letter["truncated"]
        assert cut["part"] == "original_value" and cut["size"] == len(junk)
        assert cut["sha256"] == hashlib.sha256(junk).hexdigest()
        assert letter["original_value"] == junk[: cut["kept"]]
        assert letter["original_headers"] == [{"key": "agency-batch", "value": b"b" * 300}]

        # replay says it cannot replay from the dead letter, and how; --from-source does it
        assert cli(["deadletter", "replay", "--id", letter["dead_letter_id"]]) == 0
        out = capsys.readouterr().out
        assert "truncated" in out and "--from-source" in out and f"@{letter['source_offset']}" in out
        assert "0 dead letter(s) replayed" in out
        assert cli(["deadletter", "replay", "--id", letter["dead_letter_id"], "--from-source"]) == 0
        assert "1 dead letter(s) replayed" in capsys.readouterr().out
        again = asyncio.run(read_topic(letters, until=lambda rs: len(rs) >= 2, timeout=60))
        replayed = [Codec().decode(r.value, "DeadLetter") for r in again]
        assert sorted(d["replay_count"] for d in replayed) == [0, 1]
        assert all(d["truncated"][0]["sha256"] == cut["sha256"] for d in replayed)
        assert workers.procs["intake"].poll() is None
