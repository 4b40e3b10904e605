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


@pytest.mark.parametrize("template", ["server.properties.template", "server-secure.properties.template"])
def test_the_local_broker_has_the_production_message_size_limit(template: str) -> None:
    """Tests see what production does: a message or dead letter over about 1 MiB is refused locally too."""
    import yaml

    from referral_bus.settings import REPO_ROOT

    manifest = REPO_ROOT / "deploy" / "k8s" / "base" / "kafka" / "kafka.yaml"
    kafka = next(d for d in yaml.safe_load_all(manifest.read_text()) if d and d.get("kind") == "Kafka")
    production = int(kafka["spec"]["kafka"]["config"]["message.max.bytes"])
    lines = (broker.LOCAL_DIR / template).read_text().splitlines()
    assert [ln.split("=", 1)[1] for ln in lines if ln.startswith("message.max.bytes=")] == [str(production)]
