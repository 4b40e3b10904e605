"""Asking the broker about topics, as an operator would (admin client already started by the caller)."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType


async def topic_configs(admin: AIOKafkaAdminClient, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each named topic's configuration as the broker describes it: {topic: {key: value}}."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    return {
        name: {entry[0]: entry[1] for entry in entries}
        for response in await admin.describe_configs(resources)
        for _, _, _, name, entries in response.resources
    }
