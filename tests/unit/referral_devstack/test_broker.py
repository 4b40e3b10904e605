"""The local broker's storage format: a cluster id the storage tool cannot mistake for an option."""

from __future__ import annotations

import base64
import uuid

import pytest

from referral_devstack import broker


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    dash_first = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))  # encodes to "-AAA…"
    ids = iter([dash_first, uuid.UUID(int=1)])
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: next(ids))
    cluster_id = broker.new_cluster_id()
    assert not cluster_id.startswith("-") and len(cluster_id) == 22
