"""Kafka over TLS with SASL/SCRAM: strangers are kept out, the pipeline runs with per-service credentials.

A separate secure broker instance (own ports and state directory; the shared plaintext broker is
never touched) with certificates from scripts/tls/make-certs.sh and one SCRAM-SHA-512 user per
service. Also: a half-configured TLS/SASL setting stops a worker at start-up with a clear message.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_bus import secure_broker
from referral_bus.broker import LocalBroker
from referral_bus.devstack import temp_workdir
from referral_bus.settings import REPO_ROOT, KafkaSettings
from tests.faults.harness import Stack, check_books, drain, find_secrets, generate, produce_stream, worker_logs

SERVICES = ["intake", "routing", "notifier"]


def _free_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


@pytest.fixture(scope="module")
def secure() -> Iterator[secure_broker.SecureBroker]:
    """A TLS+SASL broker of this module's own, with users intake, routing, notifier and tester."""
    with temp_workdir("secure-broker-") as work:
        broker = LocalBroker(port=_free_pair(), state_dir=work / "kafka")
        sb = secure_broker.start(broker, work / "tls", [*SERVICES, "tester"])
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
    """intake → routing → notifier through SASL_SSL, each service as its own user; no password in any log."""
    for k, v in secure.client_env("tester").items():
        monkeypatch.setenv(k, v)  # this process (producer, topic reader) connects as "tester"
    with temp_workdir("tls-stack-") as work:
        stack = Stack(
            work=work,
            namespace=namespace,
            bootstrap=secure.bootstrap,
            service_env={s: secure.client_env(s) for s in SERVICES},
        )
        try:
            await stack.start()
            assert stack.directory is not None
            stream = generate(40, stack.directory, seed=11)
            await produce_stream(secure.bootstrap, stream.records, duration=2)
            drained = await drain(stack, stream, 180)
            books = await check_books("TLS + SASL/SCRAM pipeline", stack, stream, drained=drained, drain_s=0.0)
            assert not books.problems, books.problems
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
        [sys.executable, "-m", "faust", "-A", "services.intake.app", "worker", "-l", "info"],
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
