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
from typing import Any

import pytest

from referral_bus import topics
from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_devstack import secure_broker
from referral_devstack.broker import LocalBroker
from referral_devstack.kafka_acls import SERVICE_USERS, Acl, load_kafka_users, namespaced
from referral_devstack.workers import free_port_pair, temp_workdir, worker_command
from tests.support.admin import topic_configs
from tests.support.harness import Stack, check_books, drain, find_secrets, generate, produce_stream, worker_logs

AGENCY_USERS = REPO_ROOT / "deploy" / "k8s" / "base" / "kafka" / "agency-users.yaml"
SERVICES = ["intake", "routing", "notifier", "stats", "inbox", "ledger"]
USERS = {s: f"referral-bus-{s}" for s in SERVICES}  # KafkaUsers of kafka/users.yaml, inbox-user.yaml
TESTER = "tester"  # this process: the agency producing reports and the auditor reading the books
# Agencies' logins from config/agencies.yaml (KafkaUsers generated into deploy/k8s/base/kafka/agency-users.yaml)
AGENCIES = ["agency-vn-hotline-111", "agency-ngo-safe-online", "agency-intl-th-24-7", "agency-intl-ph-24-7"]


def acls_of_tester(namespace: str) -> list[Acl]:
    """What the test process itself needs: write reports to intake, read every topic of its namespace."""
    return [
        Acl(TESTER, "topic", f"{namespace}.", "prefix", "Read"),
        Acl(TESTER, "topic", f"{namespace}.", "prefix", "Describe"),
        Acl(TESTER, "topic", f"{namespace}.", "prefix", "DescribeConfigs"),
        Acl(TESTER, "topic", topics.name(topics.INTAKE), "literal", "Write"),
    ]


async def grant_all(secure: secure_broker.SecureBroker, namespace: str) -> int:
    """Every service's and agency's manifest ACLs on this namespace, plus the tester's."""
    manifest = load_kafka_users(*SERVICE_USERS, AGENCY_USERS)
    acls = [a for user in [*USERS.values(), *AGENCIES] for a in namespaced(manifest[user], namespace)]
    return await secure_broker.grant(secure, acls + acls_of_tester(namespace))


@pytest.fixture(scope="module")
def secure() -> Iterator[secure_broker.SecureBroker]:
    """A TLS+SASL broker of this module's own, with users intake, routing, notifier, stats and tester."""
    with temp_workdir("secure-broker-") as work:
        broker = LocalBroker(port=free_port_pair(), state_dir=work / "kafka")
        sb = secure_broker.start(broker, work / "tls", [*USERS.values(), *AGENCIES, TESTER])
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
    """intake → routing → notifier, and stats, through SASL_SSL, each as its own user with only its manifest ACLs.

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
            await stack.start(SERVICES)
            assert stack.directory is not None
            await assert_topics_as_declared(secure.settings(TESTER), namespace, stack.directory)
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


async def assert_topics_as_declared(settings: KafkaSettings, namespace: str, directory: Path) -> None:
    """The topics the workers created at start-up are exactly the declared ones (topic_catalog), partitions too."""
    from aiokafka.admin import AIOKafkaAdminClient

    from referral_domain.agencies import load_agencies
    from referral_domain.agency_topics import declared
    from referral_domain.directory import load_directory

    specs = declared(load_agencies(REPO_ROOT / "config" / "agencies.yaml"), load_directory(directory))
    want = {topics.name(spec.name): spec.partitions or settings.topic_partitions for spec in specs}
    changelogs = {topics.name(spec.name): spec for spec in specs if spec.compacted}
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(namespace + ".")]
        created = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(names)}
        configs = await topic_configs(admin, sorted(changelogs))
    finally:
        await admin.close()
    assert sorted(set(created) - set(want)) == [], "created at start-up but not declared in topic_catalog"
    assert sorted(set(want) - set(created)) == [], "declared in topic_catalog but not created by the workers"
    assert created == want, "partition counts differ from the declaration"
    for name, spec in changelogs.items():  # the workers create each changelog as declared: compacted and expiring
        assert configs[name]["cleanup.policy"] == "compact,delete", name
        assert configs[name]["retention.ms"] == str(spec.retention_ms), name


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
    ("routing", topics.REFERRALS_URGENT, "read"),  # the urgent lane likewise
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


# ---- identity from the transport: agencies and recipients are held to their own topics ----------


async def _send(settings: KafkaSettings, topic: str, key: bytes, value: bytes) -> None:
    """Produce one record as `settings`' user and wait for the broker's acknowledgement."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all", request_timeout_ms=15_000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=key), 30)
    finally:
        await producer.stop()


def _report(agency_id: str, report_id: str) -> bytes:
    """A valid CaseReport claiming `agency_id`, Avro-encoded."""
    from tests.support.notifier import CODEC, case

    # no content hashes or URLs: nothing to correlate on, so each genuine report opens its own case
    report = {**case(report_id)["report"], "agency_id": agency_id, "content_hashes": [], "content_urls": []}
    return CODEC.encode("CaseReport", report)


async def _records(contract: str, until: Any, timeout: float = 120) -> list[Any]:
    from referral_devstack.reading import read_topic

    return await read_topic(topics.name(contract), until=until, timeout=timeout)


@pytest.mark.kafka
async def test_identity_comes_from_the_transport_for_agencies_and_recipients(
    secure: secure_broker.SecureBroker, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the TLS + SASL/SCRAM broker with the manifests' ACLs and real intake and notifier workers.

    The broker refuses an agency writing to another agency's (or the shared) intake topic, and a
    recipient's agency writing to another recipient's (or the shared) ack topic. On its own topics:
    a report naming another agency is dead-lettered (agency_mismatch, original bytes) and that
    agency's genuine report is still accepted; an ack naming another recipient, or acknowledging
    another recipient's referral, is dead-lettered and changes nothing; the genuine ack closes the loop.
    """
    from referral_devstack.workers import Workers
    from services.intake.accept import case_id_for, report_key
    from tests.support.notifier import CODEC, referral, send_referrals, statuses

    for k, v in secure.client_env(TESTER).items():
        monkeypatch.setenv(k, v)
    await grant_all(secure, namespace)
    await secure_broker.grant(secure, [Acl(TESTER, "topic", topics.name(topics.REFERRALS), "literal", "Write")])
    hotline, ngo = secure.settings("agency-vn-hotline-111"), secure.settings("agency-ngo-safe-online")
    th, ph = secure.settings("agency-intl-th-24-7"), secure.settings("agency-intl-ph-24-7")
    with temp_workdir("identity-") as work:
        workers = Workers(work, namespace, {"NOTIFIER_SLA_CHECK_INTERVAL_SECONDS": "0.5"})
        try:
            for s in ("intake", "notifier"):  # they create their topics, so the refusals below are authorisation
                workers.start(s, extra_env=secure.client_env(USERS[s]))
            workers.wait_ready(timeout=180, names=["intake", "notifier"])

            # the broker: each agency writes only its own intake topic, each recipient only its own ack topic
            hotline_topic = topics.name(topics.intake_topic("vn-hotline-111"))
            assert await _can_write(hotline, hotline_topic)
            assert not await _can_write(hotline, topics.name(topics.intake_topic("ngo-safe-online")))
            assert not await _can_write(hotline, topics.name(topics.INTAKE))
            assert await _can_write(th, topics.name(topics.acks_topic("intl-th-24-7")))
            assert not await _can_write(th, topics.name(topics.acks_topic("intl-ph-24-7")))
            assert not await _can_write(th, topics.name(topics.ACKS))
            assert not await _can_write(th, topics.name(topics.REFERRALS))

            # intake: the hotline claims to be the NGO, first; then both report genuinely
            spoof = _report("ngo-safe-online", "NGO-1")
            await _send(hotline, hotline_topic, report_key("ngo-safe-online", "NGO-1").encode(), spoof)

            def mismatch(rs: list[Any]) -> list[Any]:
                letters = [CODEC.decode(r.value, "DeadLetter") for r in rs]
                return [d for d in letters if d["reason"] == "agency_mismatch"]

            dead = mismatch(await _records(topics.DEADLETTER, lambda rs: bool(mismatch(rs))))
            assert dead, workers.tail("intake")
            assert dead[0]["original_value"] == spoof and dead[0]["source_topic"] == hotline_topic
            assert dead[0]["field"] == "agency_id" and "own topic" in dead[0]["message"]
            genuine = [("ngo-safe-online", "NGO-1", ngo), ("vn-hotline-111", "HL-1", hotline)]
            for agency, rid, login in genuine:
                await _send(
                    login,
                    topics.name(topics.intake_topic(agency)),
                    report_key(agency, rid).encode(),
                    _report(agency, rid),
                )
            want = {case_id_for(a, r) for a, r, _ in genuine}

            def cases(rs: list[Any]) -> set[str]:
                return {r.key.decode() for r in rs} & want

            assert cases(await _records(topics.CASES, lambda rs: cases(rs) == want)) == want, workers.tail("intake")

            # notifier: one referral for each partner; Thailand's agency tries to acknowledge the Philippines'
            ref_th, ref_ph = referral("intl-th-24-7"), referral("intl-ph-24-7")
            await send_referrals([ref_th, ref_ph])

            def delivered(rs: list[Any]) -> bool:
                got = [CODEC.decode(r.value, "DeliveryReceipt") for r in rs]
                return all("DELIVERED" in statuses(got, r["referral_id"]) for r in (ref_th, ref_ph))

            assert delivered(await _records(topics.RECEIPTS, delivered)), workers.tail("notifier")

            def ack(ref: dict[str, Any], recipient_id: str) -> tuple[bytes, bytes]:
                record = {
                    "referral_id": ref["referral_id"],
                    "recipient_id": recipient_id,
                    "outcome": "ACCEPTED",
                    "reason": None,
                    "acknowledged_at": int(time.time() * 1000),
                }
                return ref["case_id"].encode(), CODEC.encode("Acknowledgement", record)

            th_acks = topics.name(topics.acks_topic("intl-th-24-7"))
            await _send(th, th_acks, *ack(ref_ph, "intl-ph-24-7"))  # on its own topic, posing as the Philippines
            await _send(th, th_acks, *ack(ref_ph, "intl-th-24-7"))  # as itself, for a referral not its own
            await _send(ph, topics.name(topics.acks_topic("intl-ph-24-7")), *ack(ref_ph, "intl-ph-24-7"))  # genuine

            def refused(rs: list[Any]) -> list[str]:
                letters = [CODEC.decode(r.value, "DeadLetter") for r in rs]
                return sorted(d["reason"] for d in letters if d["referral_id"] == ref_ph["referral_id"])

            reasons = refused(await _records(topics.DEADLETTER, lambda rs: len(refused(rs)) >= 2))
            assert reasons == ["invalid_ack", "recipient_mismatch"], workers.tail("notifier")

            def acked(rs: list[Any]) -> bool:
                got = [CODEC.decode(r.value, "DeliveryReceipt") for r in rs]
                return "ACKNOWLEDGED" in statuses(got, ref_ph["referral_id"])

            rs = await _records(topics.RECEIPTS, acked)
            got = [CODEC.decode(r.value, "DeliveryReceipt") for r in rs]
            assert statuses(got, ref_ph["referral_id"]) == ["DELIVERED", "ACKNOWLEDGED"]
            assert statuses(got, ref_th["referral_id"]) == ["DELIVERED"]  # nobody acknowledged Thailand's
            refused_lines = [line for line in _log_lines_of(workers) if "AuthorizationFailed" in line]
            assert not refused_lines, refused_lines[:3]  # the workers' own ACLs were enough
        finally:
            workers.stop_all()


def _log_lines_of(workers: Any) -> list[str]:
    return [line for name in workers.procs for line in workers.log_path(name).read_text(errors="replace").splitlines()]
