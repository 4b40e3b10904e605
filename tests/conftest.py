"""Shared fixtures: the real local Kafka broker and a fresh topic namespace per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from referral_devstack import broker


@pytest.fixture(scope="session")
def kafka() -> str:
    """Bootstrap address of a real broker: the local one (started if needed) or KAFKA_BOOTSTRAP_SERVERS."""
    message = broker.start()
    print(message)
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", broker.LocalBroker().bootstrap)


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A topic/consumer-group prefix of this test's own, so tests never see each other's messages."""
    ns = "t" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("REFERRAL_BUS_NAMESPACE", ns)
    yield ns


@pytest.fixture(scope="session")
def schema_registry() -> str:
    """URL of a real Confluent-compatible schema registry: KAFKA_SCHEMA_REGISTRY_URL, or the local one (started)."""
    configured = os.environ.get("KAFKA_SCHEMA_REGISTRY_URL")
    if configured:
        return configured
    from referral_devstack import apicurio

    print(apicurio.start())
    return apicurio.LocalRegistry().url
