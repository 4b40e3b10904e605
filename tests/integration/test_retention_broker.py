"""Retention through the real broker: a worker creates its topics with the declared retention, and a dead
letter is written twice, with its bytes (short retention) and without them (the digest and reason)."""

from __future__ import annotations

import hashlib

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs
from referral_bus.settings import KafkaSettings
from referral_devstack.reading import read_topic
from referral_devstack.workers import running
from tests.support.admin import topic_configs
from tests.support.notifier import produce

pytestmark = [pytest.mark.kafka]


async def test_dead_letters_keep_a_digest_and_topics_their_retention(kafka: str, namespace: str) -> None:
    with running(namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka}, "ledger", prefix="retention-"):
        garbage = b"\x01\xffPIIMARK not a disclosure"
        await produce(topics.DISCLOSURES, [(b"case-x", garbage)])
        codec = Codec()
        letters = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 1, timeout=60)
        kept = await read_topic(topics.name(topics.DEADLETTER_DIGESTS), until=lambda rs: len(rs) >= 1, timeout=60)
        full, digest_only = codec.decode(letters[0].value, "DeadLetter"), codec.decode(kept[0].value, "DeadLetter")
        assert full["original_value"] == garbage
        assert (
            full["original_digest"] == digest_only["original_digest"] == "sha256:" + hashlib.sha256(garbage).hexdigest()
        )
        assert digest_only["original_value"] is None and digest_only["original_headers"] == []
        assert digest_only["reason"] == full["reason"] and b"PIIMARK" not in kept[0].value

        admin = AIOKafkaAdminClient(**client_kwargs(KafkaSettings()))
        await admin.start()
        try:
            names = [topics.DEADLETTER, topics.DEADLETTER_DIGESTS, topics.LEDGER, topics.DISCLOSURES]
            configs = await topic_configs(admin, [topics.name(n) for n in names])
        finally:
            await admin.close()
        for spec in (t for t in topics.ALL if t.name in names):
            assert configs[topics.name(spec.name)]["retention.ms"] == str(spec.retention_ms), spec.name
        assert int(configs[topics.name(topics.DEADLETTER)]["retention.ms"]) == 14 * topics.DAY_MS
