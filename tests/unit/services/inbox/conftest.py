"""The inbox's unit-test fixtures: a lifecycle, an in-memory store, a ready `Inbox` (pieces: tests/support/inbox.py)."""

from __future__ import annotations

import pytest

from referral_bus.settings import config_file
from referral_domain.directory import load_directory
from referral_domain.lifecycle import Lifecycle, from_settings
from services.inbox.actions import transfer_targets
from services.inbox.ratelimit import FailedSignins
from services.inbox.sessions import Sessions
from services.inbox.web import Inbox
from tests.support.inbox import HASHES, LINK_KEY, NOW_MS, Store, document


@pytest.fixture(scope="session")
def lifecycle() -> Lifecycle:
    return from_settings()


@pytest.fixture
def store() -> Store:
    s = Store()
    s.add(document("ref-p1", "vn-police-ha-noi"))
    s.add(document("ref-p2", "vn-police-ha-noi", priority="P1"))
    s.add(document("ref-c1", "vn-child-protection-ha-noi"))
    return s


@pytest.fixture
def inbox(store: Store, lifecycle: Lifecycle) -> Inbox:
    directory = load_directory(config_file("recipients.yaml"))
    return Inbox(
        store=store,
        sessions=Sessions("s" * 32, 60),
        password_hash=HASHES.get,
        link_key=lambda: LINK_KEY,
        lifecycle=lifecycle,
        limiter=FailedSignins(3, 900),
        transfer_targets=lambda rid: transfer_targets(lifecycle, directory, rid),
        now_ms=lambda: NOW_MS,
        monotonic=lambda: 100.0,
    )
