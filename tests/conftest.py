"""Shared fixtures: the real local Kafka broker, a fresh topic namespace per test, a real SMTP server.

`make test` runs pytest in several processes (pytest-xdist, `-n`): the broker and the schema registry are
started under a file lock, so two processes never start one twice, and the fault scenarios' books come
back from every process to the table printed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from referral_bus.settings import REPO_ROOT, SchemaRegistrySettings
from referral_devstack import broker
from referral_devstack.receivers import MailReceiver
from referral_devstack.settings import DevstackSettings
from tests.support.screenshots import OPTION, refresh_asked, screenshot_dir

# Workers started by tests write their per-event lines (case accepted, delivered, ...) at INFO: tests follow
# a case through them, and the privacy tests check them too. The default (DEBUG, with an `events summary`
# line per interval) is tested in tests/integration/test_events_summary.py, which sets these to false.
for _prefix in ("INTAKE", "ROUTING", "NOTIFIER", "STATS", "INBOX", "LEDGER"):
    os.environ.setdefault(f"{_prefix}_LOG_EACH_EVENT", "true")
# Faust reads these from the environment (test-only: production keeps Faust's 60-s session): a worker a test
# kills with SIGKILL leaves its consumer group within 10 s, so the replacement it starts is not held up to a minute
# in the rebalance waiting for the dead member (as tests/support/harness.py's FAST_GROUP_ENV for the fault drills).
os.environ.setdefault("BROKER_SESSION_TIMEOUT", "10")
os.environ.setdefault("BROKER_HEARTBEAT_INTERVAL", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, action="store_true", help="browser tests save their screenshots to docs/images/")


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a browser test saves screenshots: a temporary folder, docs/images/ with --refresh-docs-images."""
    return screenshot_dir(refresh_asked(bool(request.config.getoption(OPTION))), tmp_path)


@pytest.fixture(scope="session")
def kafka() -> str:
    """Bootstrap address of a real broker: the local one (started if needed) or KAFKA_BOOTSTRAP_SERVERS."""
    with _start_lock("broker"):
        message = broker.start()
    print(message)
    return DevstackSettings().kafka_bootstrap_servers or broker.LocalBroker().bootstrap


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A topic/consumer-group prefix of this test's own, so tests never see each other's messages."""
    ns = "t" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("REFERRAL_BUS_NAMESPACE", ns)
    yield ns
    # in a thread of its own (asyncio.run here would replace the event loop pytest-asyncio keeps), while the next
    # test runs: about a second per test on the shared broker; the session waits for every one at its end
    cleaner = threading.Thread(target=asyncio.run, args=(_delete_topics(ns),), name="delete-test-topics")
    cleaner.start()
    _cleaners.append(cleaner)


_cleaners: list[threading.Thread] = []


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

    with _start_lock("registry"):
        print(apicurio.start())
    return apicurio.LocalRegistry().url


@pytest.fixture
def mail() -> Iterator[MailReceiver]:
    """A real SMTP server on a free local port."""
    server = MailReceiver()
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def _start_lock(what: str) -> Iterator[None]:
    """Held while one test process starts (or finds running) a shared local service; the others wait."""
    path = REPO_ROOT / ".local" / f"start-{what}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# The fault scenarios' books (tests/support/harness.py RESULTS): each process keeps its own; an xdist worker hands
# its rows to the controller, which prints the one table of the run and keeps it in .local/faults/last-table.txt.
FAULT_TABLE = REPO_ROOT / ".local" / "faults" / "last-table.txt"
_books_of_workers: list[dict[str, Any]] = []


def _own_books() -> list[Any]:
    """This process's rows (the harness is imported only by the tests that book a scenario)."""
    harness = sys.modules.get("tests.support.harness")
    return list(harness.RESULTS) if harness is not None else []


def pytest_sessionfinish(session: pytest.Session) -> None:
    for cleaner in _cleaners:  # every test's topics are gone before the session ends
        cleaner.join()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its rows go to the controller
        workeroutput["fault_books"] = [dataclasses.asdict(b) for b in _own_books()]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    _books_of_workers.extend(getattr(node, "workeroutput", {}).get("fault_books", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the books of every scenario that ran, and keep them in .local/faults/last-table.txt."""
    if hasattr(terminalreporter.config, "workeroutput"):
        return
    rows = _own_books()
    if _books_of_workers:
        from tests.support.harness import Books

        rows += [Books(**b) for b in _books_of_workers]
    if not rows:
        return
    from tests.support.harness import table

    text = table(rows)
    terminalreporter.write_sep("=", "fault scenarios")
    terminalreporter.write_line(text)
    FAULT_TABLE.parent.mkdir(parents=True, exist_ok=True)
    FAULT_TABLE.write_text(text + "\n", encoding="utf-8")
