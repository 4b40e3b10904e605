"""Shared pieces of the inbox's unit tests: a lifecycle, a directory, an in-memory store, a ready `Inbox`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from referral_bus.settings import config_file
from referral_domain.directory import load_directory
from referral_domain.lifecycle import Lifecycle, from_settings
from services.inbox.actions import transfer_targets
from services.inbox.model import from_document
from services.inbox.passwords import hash_password
from services.inbox.ratelimit import FailedSignins
from services.inbox.sessions import Sessions
from services.inbox.web import Inbox

NOW_MS = 1_800_000_000_000
LINK_KEY = "link-key-" + "x" * 20
PASSWORDS = {"vn-police-ha-noi": "police-pw", "vn-child-protection-ha-noi": "child-pw"}
HASHES = {rid: hash_password(pw, iterations=1_000) for rid, pw in PASSWORDS.items()}


def document(
    referral_id: str, recipient_id: str, *, priority: str = "P2", created_at: int = NOW_MS, **case: Any
) -> dict[str, Any]:
    """A referral document as the notifier's inbox channel produces it."""
    return {
        "document": "referral-bus.referral/v1",
        "referral_id": referral_id,
        "case_id": f"case-{referral_id}",
        "recipient_id": recipient_id,
        "priority": priority,
        "ack_sla_seconds": 900,
        "preservation_request": False,
        "reason": "rule",
        "rule_ids": ["r1"],
        "created_at": created_at,
        "data_profile": "full",
        "case": {"case_id": f"case-{referral_id}", "report": {"narrative": "n"}, **case},
    }


class Store(dict[str, Mapping[str, Any]]):
    """The read model as a dict (the Faust table has the same get/values)."""

    def add(self, doc: dict[str, Any]) -> None:
        self[doc["referral_id"]] = from_document(doc, None)

    def values(self) -> Iterable[Mapping[str, Any]]:  # type: ignore[override]
        return list(super().values())


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
