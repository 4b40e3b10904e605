"""aiokafka client options from KafkaSettings (plaintext, TLS, SASL), for the CLI and tools."""

from __future__ import annotations

import ssl
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
    import asyncio

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
