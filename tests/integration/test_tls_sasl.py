"""Kafka over TLS with SASL/SCRAM and ACLs: strangers are kept out, each service is held to its own topics.

A separate secure broker instance (own ports and state directory; the shared plaintext broker is
never touched) with certificates from scripts/tls/make-certs.sh, one SCRAM-SHA-512 user per
service named as its Strimzi KafkaUser, and the KRaft StandardAuthorizer (deny by default) with
exactly the ACLs of deploy/k8s/base/kafka/users.yaml. The pipeline runs through it with those
per-service credentials, and a service's credentials are refused on topics it must not touch.
Also: a half-configured TLS/SASL setting stops a worker at start-up with a clear message.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_bus import topics
from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_devstack import secure_broker
from referral_devstack.broker import LocalBroker
from referral_devstack.kafka_acls import Acl, load_kafka_users, namespaced
from referral_devstack.workers import free_port_pair, temp_workdir, worker_command
from tests.support.harness import Stack, check_books, drain, find_secrets, generate, produce_stream, worker_logs

SERVICES = ["intake", "routing", "notifier"]
USERS = {s: f"referral-bus-{s}" for s in SERVICES}  # the KafkaUser names in deploy/k8s/base/kafka/users.yaml
TESTER = "tester"  # this process: the agency producing reports and the auditor reading the books


def acls_of_tester(namespace: str) -> list[Acl]:
    """What the test process itself needs: write reports to intake, read every topic of its namespace."""
    return [
        Acl(TESTER, "topic", f"{namespace}.", "prefix", "Read"),
        Acl(TESTER, "topic", f"{namespace}.", "prefix", "Describe"),
        Acl(TESTER, "topic", topics.name(topics.INTAKE), "literal", "Write"),
    ]


async def grant_all(secure: secure_broker.SecureBroker, namespace: str) -> int:
    """Every service user's manifest ACLs on this namespace, plus the tester's."""
    manifest = load_kafka_users()
    acls = [a for user in USERS.values() for a in namespaced(manifest[user], namespace)]
    return await secure_broker.grant(secure, acls + acls_of_tester(namespace))


@pytest.fixture(scope="module")
def secure() -> Iterator[secure_broker.SecureBroker]:
    """A TLS+SASL broker of this module's own, with users intake, routing, notifier and tester."""
    with temp_workdir("secure-broker-") as work:
        broker = LocalBroker(port=free_port_pair(), state_dir=work / "kafka")
        sb = secure_broker.start(broker, work / "tls", [*USERS.values(), TESTER])
        try:
            yield sb
        finally:
            secure_broker.stop(broker)


@pytest.mark.kafka
def test_strangers_are_kept_out(secure: secure_broker.SecureBroker) -> None:
    assert secure_broker.answers(secure.settings("tester"))
    plaintext = KafkaSettings(bootstrap_servers=secure.bootstrap)
    assert not secure_broker.answers(plaintext, timeout=3)
    wrong = secure.settings("tester").model_copy(update={"sasl_password": "not-the-password"})
    assert not secure_broker.answers(wrong, timeout=3)
    stranger = secure.settings("tester").model_copy(update={"sasl_username": "stranger"})
    assert not secure_broker.answers(stranger, timeout=3)
    untrusted = secure.settings("tester").model_copy(update={"ssl_cafile": None})  # system CAs only
    assert not secure_broker.answers(untrusted, timeout=3)


@pytest.mark.kafka
@pytest.mark.e2e
async def test_pipeline_through_tls_sasl_with_per_service_credentials(
    secure: secure_broker.SecureBroker, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """intake → routing → notifier through SASL_SSL, each service as its own user with only its manifest ACLs.

    No password in any log.
    """
    for k, v in secure.client_env(TESTER).items():
        monkeypatch.setenv(k, v)  # this process (producer, topic reader) connects as "tester"
    assert await grant_all(secure, namespace) > 0
    with temp_workdir("tls-stack-") as work:
        stack = Stack(
            work=work,
            namespace=namespace,
            bootstrap=secure.bootstrap,
            service_env={s: secure.client_env(USERS[s]) for s in SERVICES},
        )
        try:
            await stack.start()
            assert stack.directory is not None
            stream = generate(40, stack.directory, seed=11)
            await produce_stream(secure.bootstrap, stream.records, duration=2)
            drained = await drain(stack, stream, 180)
            books = await check_books("TLS + SASL/SCRAM + ACLs pipeline", stack, stream, drained=drained, drain_s=0.0)
            assert not books.problems, books.problems
            refused = [line for line in _log_lines(stack) if "AuthorizationFailed" in line or "NOT_AUTHORIZED" in line]
            assert not refused, refused[:3]  # the manifest ACLs are enough for everything the services did
            leaks = find_secrets(
                {f"sasl-password-{u}": p for u, p in secure.users.items()},
                {
                    **worker_logs(stack),
                    **{f"delivery {d.idempotency_key}": d.body for d in stack.receiver.deliveries()},
                },
            )
            assert not leaks, leaks
        finally:
            stack.close_sync()


def _log_lines(stack: Stack) -> list[str]:
    return [line for blob in worker_logs(stack).values() for line in blob.decode(errors="replace").splitlines()]


async def _can_write(settings: KafkaSettings, topic: str) -> bool:
    """True when `settings`' user may produce to `topic`; False when the broker refuses it (authorisation)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import TopicAuthorizationFailedError

    producer = AIOKafkaProducer(**client_kwargs(settings), request_timeout_ms=15_000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"acl-probe", key=b"acl-probe", partition=0), 30)
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        await producer.stop()


async def _can_read(settings: KafkaSettings, topic: str) -> bool:
    """True when `settings`' user reads a record of `topic` (partition 0); False when the broker refuses it."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import TopicAuthorizationFailedError

    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any((await consumer.getmany(timeout_ms=500)).values()):
                return True
            await consumer._client.force_metadata_update()
            if topic in consumer._client.cluster.unauthorized_topics:
                return False  # not even Describe: the broker refuses the topic's metadata
        raise AssertionError(f"neither a record nor a refusal from {topic} within 30s")
    except TopicAuthorizationFailedError:
        return False
    finally:
        await consumer.stop()


# (service, contract topic): what the manifest allows it, and what it must not touch
ALLOWED = [("intake", topics.INTAKE, "read"), ("intake", topics.CASES, "write"), ("routing", topics.CASES, "read")]
REFUSED = [
    ("intake", topics.REFERRALS, "read"),
    ("intake", topics.REFERRALS, "write"),
    ("routing", topics.INTAKE, "read"),
    ("routing", topics.REFERRALS, "read"),  # Describe and Write allowed, Read not: the fetch is refused
    ("routing", topics.ACKS, "write"),
    ("notifier", topics.CASES, "read"),
    ("notifier", topics.INTAKE, "write"),
]


@pytest.mark.kafka
async def test_service_credentials_are_refused_outside_their_acls(
    secure: secure_broker.SecureBroker, namespace: str
) -> None:
    """Each service's user can do what its KafkaUser allows and is refused on topics it must not touch."""
    await grant_all(secure, namespace)
    admin = secure.settings(secure_broker.ADMIN_USER)
    await ensure_topics(admin, [topics.name(t.name) for t in topics.ALL])
    for t in topics.ALL:  # one record in partition 0 of every topic, so a permitted read has something to read
        await _can_write(admin, topics.name(t.name)) or pytest.fail(f"admin cannot write {t.name}")

    async def allowed(service: str, topic: str, op: str) -> bool:
        user = secure.settings(USERS[service])
        return await (_can_read if op == "read" else _can_write)(user, topics.name(topic))

    for service, topic, op in ALLOWED:
        assert await allowed(service, topic, op), f"{service} should {op} {topic}"
    for service, topic, op in REFUSED:
        assert not await allowed(service, topic, op), f"{service} must not {op} {topic}"


HALF_CONFIGURED = [
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD"),
    (
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u"},
        "needs KAFKA_SASL_PASSWORD",
    ),
    ({"KAFKA_SASL_PASSWORD": "half-configured-pw-9431"}, "set it to SASL_SSL or SASL_PLAINTEXT"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "/nonexistent/client.crt"}, "must be set together"),
]


@pytest.mark.parametrize(("env", "message"), HALF_CONFIGURED)
def test_half_configured_tls_sasl_refuses_to_start(env: dict[str, str], message: str, tmp_path: Path) -> None:
    """The real worker command exits at start-up naming what is missing, and never echoes a password."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    result = subprocess.run(
        worker_command("services.intake.app"),
        cwd=REPO_ROOT,
        env={**clean, **env, "INTAKE_DATA_DIR": str(tmp_path), "INTAKE_WEB_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ConfigurationError" in out and message in out, out[-2000:]
    assert "half-configured-pw-9431" not in out
