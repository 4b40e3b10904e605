"""The local broker's storage format: a cluster id the storage tool cannot mistake for an option."""

from __future__ import annotations

import base64
import socket
import time
import uuid
from pathlib import Path

import pytest

from referral_devstack import broker
from referral_devstack.errors import BrokerError


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    dash_first = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))  # encodes to "-AAA…"
    ids = iter([dash_first, uuid.UUID(int=1)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))  # the module broker uses
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


def test_whatever_listens_on_the_port_is_waited_for_and_never_started_twice(
    taken_port: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def must_not_start(*args: object) -> None:
        raise AssertionError("a second broker was set up on a port already taken")

    for step in ("check_tools", "resolve_jars", "_format"):
        monkeypatch.setattr(broker, step, must_not_start)
    monkeypatch.setattr(broker, "ANSWER_WAIT_SECONDS", 2.0)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    local = broker.LocalBroker(port=taken_port, state_dir=tmp_path / "kafka")
    assert broker.listening(local.bootstrap)
    with pytest.raises(BrokerError, match=r"did not answer a metadata request within 2s"):
        broker.start(local)


def test_a_broker_slow_to_answer_is_polled_until_it_does(monkeypatch: pytest.MonkeyPatch) -> None:
    replies = iter([False, False, True])
    monkeypatch.setattr(broker, "answers", lambda bootstrap, timeout: next(replies))
    monkeypatch.setattr(time, "sleep", lambda s: None)  # the poll's pause
    assert broker.answers_within("127.0.0.1:1", 60.0)
    monkeypatch.setattr(broker, "answers", lambda bootstrap, timeout: False)
    assert not broker.answers_within("127.0.0.1:1", 0.0)


def test_nothing_listening_is_not_a_broker() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: connections refused
        assert not broker.listening(f"127.0.0.1:{s.getsockname()[1]}")
