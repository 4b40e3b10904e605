"""The Kafka adapter: client options (plaintext, TLS, SASL), topic creation, reading a topic to its end."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any

from referral_bus.settings import KafkaSettings


def client_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
        if kafka.ssl_certfile and kafka.ssl_keyfile:
            context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile))
        kwargs["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password
    return kwargs


async def ensure_topics(kafka: KafkaSettings, names: list[str], *, timeout: float = 60.0) -> list[str]:
    """Create the topics that do not exist yet; return the ones created. Existing topics are left alone."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**client_kwargs(kafka), request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(n, kafka.topic_partitions, kafka.topic_replication_factor) for n in missing]
                )
            except TopicAlreadyExistsError:
                pass
        deadline = asyncio.get_running_loop().time() + timeout
        while missing and asyncio.get_running_loop().time() < deadline:
            if set(missing) <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.2)
        return missing
    finally:
        await admin.close()


async def read_topic(
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 60.0,
    bootstrap: str | None = None,
) -> list[Any]:
    """Read `topic` from the beginning until `until(records)` holds or the deadline passes."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    kwargs = client_kwargs(KafkaSettings())
    if bootstrap:
        kwargs["bootstrap_servers"] = bootstrap
    consumer = AIOKafkaConsumer(**kwargs, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while time.monotonic() < deadline:
            found = consumer.partitions_for_topic(topic)
            if found:
                partitions = found
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
        if not partitions:
            return records
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        while time.monotonic() < deadline and not until(records):
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(msgs)
        return records
    finally:
        await consumer.stop()
