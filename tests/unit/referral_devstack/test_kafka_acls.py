"""ACLs as data: the Strimzi KafkaUser manifests parsed into the bindings the local secure broker gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus import topics
from referral_bus.topic_catalog import LANES
from referral_devstack.errors import BrokerError
from referral_devstack.kafka_acls import Acl, load_kafka_users, namespaced


def test_every_service_has_a_kafka_user_with_its_group_and_the_dead_letter_topic() -> None:
    users = load_kafka_users()
    for service in ("intake", "routing", "notifier", "stats"):
        acls = users[f"referral-bus-{service}"]
        assert Acl(f"referral-bus-{service}", "group", f"referral-bus-{service}", "literal", "Read") in acls
        assert Acl(f"referral-bus-{service}", "topic", topics.DEADLETTER, "literal", "Write") in acls


def test_least_privilege_examples() -> None:
    users = load_kafka_users()
    intake = {(a.name, a.operation) for a in users["referral-bus-intake"]}
    assert (topics.REFERRALS, "Read") not in intake
    notifier = {(a.name, a.operation) for a in users["referral-bus-notifier"]}
    assert (topics.CASES, "Read") not in notifier
    assert (topics.REFERRALS, "Write") in notifier  # SLA escalations are new referrals


def test_every_priority_lane_is_written_by_routing_and_read_and_written_by_the_notifier() -> None:
    users = load_kafka_users()
    routing = {(a.name, a.operation) for a in users["referral-bus-routing"]}
    notifier = {(a.name, a.operation) for a in users["referral-bus-notifier"]}
    for lane in LANES:
        assert (lane.topic, "Write") in routing and (lane.topic, "Read") not in routing
        assert {(lane.topic, "Read"), (lane.topic, "Write")} <= notifier  # its agent; SLA escalations
        # the lane's retry topic: only the notifier (its retry agent; retries, deferrals, released parked ones)
        assert {(lane.retry, "Read"), (lane.retry, "Write")} <= notifier
        assert not {op for name, op in routing if name == lane.retry}


def test_namespaced_prefixes_topic_and_group_names() -> None:
    acl = Acl("u", "topic", "referrals.intake.v1", "literal", "Read")
    assert namespaced([acl], "t1") == [Acl("u", "topic", "t1.referrals.intake.v1", "literal", "Read")]
    assert namespaced([acl], "") == [acl]


def test_unknown_operation_is_refused_with_the_file_and_user(tmp_path: Path) -> None:
    f = tmp_path / "u.yaml"
    f.write_text(
        "kind: KafkaUser\nmetadata: {name: x}\nspec:\n  authorization:\n    acls:\n"
        "      - resource: {type: topic, name: a, patternType: literal}\n        operations: [Fly]\n"
    )
    with pytest.raises(BrokerError, match="KafkaUser x"):
        load_kafka_users(f)


def test_the_inbox_writes_exactly_its_users_ack_topics_each_by_name() -> None:
    from referral_bus.settings import REPO_ROOT
    from referral_domain.directory import load_directory

    users = load_kafka_users()
    inbox_users = load_directory(REPO_ROOT / "config" / "recipients.yaml").inbox_users()
    assert inbox_users, "the shipped directory has inbox users: this test would prove nothing"
    written = {(a.name, a.pattern) for a in users["referral-bus-inbox"] if a.operation == "Write"}
    acks = {w for w in written if w[0].startswith(topics.ACKS_PREFIX)}
    assert acks == {(topics.acks_topic(r), "literal") for r in inbox_users}
    # no service writes ack topics by prefix: an agency's recipient's topic is only that agency's to write
    for user, acls in users.items():
        for a in acls:
            wide = a.pattern == "prefix" and topics.ACKS_PREFIX.startswith(a.name)
            assert not (wide and a.operation in ("Write", "All")), (user, a)
