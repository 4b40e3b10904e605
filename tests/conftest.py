"""Shared fixtures: the real local Kafka broker, a fresh topic namespace per test, a real SMTP server."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_bus.settings import SchemaRegistrySettings
from referral_devstack import broker
from referral_devstack.receivers import MailReceiver
from referral_devstack.settings import DevstackSettings
from tests.support.screenshots import OPTION, refresh_asked, screenshot_dir

# Workers started by tests write their per-event lines (case accepted, delivered, ...) at INFO: tests follow
# a case through them, and the privacy tests check them too. The default (DEBUG, with an `events summary`
# line per interval) is tested in tests/integration/test_events_summary.py, which sets these to false.
for _prefix in ("INTAKE", "ROUTING", "NOTIFIER", "STATS", "INBOX", "LEDGER"):
    os.environ.setdefault(f"{_prefix}_LOG_EACH_EVENT", "true")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, action="store_true", help="browser tests save their screenshots to docs/images/")


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a browser test saves screenshots: a temporary folder, docs/images/ with --refresh-docs-images."""
    return screenshot_dir(refresh_asked(bool(request.config.getoption(OPTION))), tmp_path)


@pytest.fixture(scope="session")
def kafka() -> str:
    """Bootstrap address of a real broker: the local one (started if needed) or KAFKA_BOOTSTRAP_SERVERS."""
    message = broker.start()
    print(message)
    return DevstackSettings().kafka_bootstrap_servers or broker.LocalBroker().bootstrap


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A topic/consumer-group prefix of this test's own, so tests never see each other's messages."""
    ns = "t" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("REFERRAL_BUS_NAMESPACE", ns)
    yield ns
    # in a thread of its own: asyncio.run here would replace the event loop pytest-asyncio keeps
    cleaner = threading.Thread(target=asyncio.run, args=(_delete_topics(ns),), name="delete-test-topics")
    cleaner.start()
    cleaner.join()


async def _delete_topics(ns: str) -> None:
    """Drop the test's topics from the shared local broker: thousands of partitions exhaust its files."""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    from referral_bus.kafka import client_kwargs
    from referral_bus.settings import KafkaSettings

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(**client_kwargs(KafkaSettings()), request_timeout_ms=10_000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        mine = [t for t in await admin.list_topics() if t.startswith(ns + ".")]
        if mine:
            await asyncio.wait_for(admin.delete_topics(mine), 20)
    except Exception:  # best effort: a test on its own broker, or none, leaves nothing here
        pass
    finally:
        try:
            await admin.close()
        except Exception:
            pass


@pytest.fixture(scope="session")
def schema_registry() -> str:
    """URL of a real Confluent-compatible schema registry: KAFKA_SCHEMA_REGISTRY_URL, or the local one (started)."""
    configured = SchemaRegistrySettings().url
    if configured:
        return configured
    from referral_devstack import apicurio

    print(apicurio.start())
    return apicurio.LocalRegistry().url


@pytest.fixture
def mail() -> Iterator[MailReceiver]:
    """A real SMTP server on a free local port."""
    server = MailReceiver()
    server.start()
    yield server
    server.stop()
