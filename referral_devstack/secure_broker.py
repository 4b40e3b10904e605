"""A second, separate local broker with a TLS + SASL/SCRAM listener, for security tests and drills.

It never touches the plaintext development broker: it has its own ports and state directory.
Certificates come from `scripts/tls/make-certs.sh` (openssl + the JDK's keytool); SCRAM-SHA-512
users (one per service, plus the broker's own) are written into the KRaft metadata when the storage
is formatted, so the broker accepts them from its first start.

Authorisation: the KRaft StandardAuthorizer, deny by default, the broker's own admin user as the
only super user on the client listener. Each service's user gets exactly the ACLs of its Strimzi
KafkaUser (deploy/k8s/base/kafka/users.yaml, applied by `grant` through kafka_acls.py), so what is
refused here is refused in the cluster too.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_devstack import kafka_acls, processes
from referral_devstack.broker import (
    LOCAL_DIR,
    LocalBroker,
    _java_cmd,
    check_tools,
    new_cluster_id,
    probe,
    resolve_jars,
)
from referral_devstack.errors import BrokerError
from referral_devstack.kafka_acls import Acl

MAKE_CERTS = REPO_ROOT / "scripts" / "tls" / "make-certs.sh"
TEMPLATE = LOCAL_DIR / "server-secure.properties.template"
MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "broker-admin"

# Appended to the rendered server-secure.properties. User:ANONYMOUS is the broker's own identity on
# the PLAINTEXT controller listener (127.0.0.1, controller RPCs only: broker registration and
# heartbeats, which need ClusterAction); clients only ever reach the SASL_SSL listener.
AUTHORIZER = """
# --- authorisation (referral_devstack.secure_broker): deny unless an ACL allows
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{admin_user};User:ANONYMOUS
"""


@dataclass
class SecureBroker:
    """Ports, state directory, certificates and SCRAM users of one secure broker instance."""

    broker: LocalBroker
    tls_dir: Path
    users: dict[str, str] = field(default_factory=dict)  # user → password

    @property
    def bootstrap(self) -> str:
        """Bootstrap address of the SASL_SSL listener."""
        return self.broker.bootstrap

    @property
    def cafile(self) -> Path:
        """The CA certificate clients trust (KAFKA_SSL_CAFILE)."""
        return self.tls_dir / "ca.crt"

    def client_env(self, user: str) -> dict[str, str]:
        """The KAFKA_* variables a service needs to connect as `user`."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": MECHANISM,
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": self.users[user],
            "KAFKA_SSL_CAFILE": str(self.cafile),
        }

    def settings(self, user: str) -> KafkaSettings:
        """KafkaSettings for `user` (for clients in this process)."""
        return KafkaSettings(
            bootstrap_servers=self.bootstrap,
            security_protocol="SASL_SSL",
            sasl_mechanism=MECHANISM,
            sasl_username=user,
            sasl_password=self.users[user],
            ssl_cafile=self.cafile,
        )


async def grant(sb: SecureBroker, acls: Iterable[Acl]) -> int:
    """Create these ACLs (connected as the admin super user); returns how many."""
    return await kafka_acls.apply(sb.settings(ADMIN_USER), acls)


def make_certs(tls_dir: Path) -> None:
    """Run the project's certificate script into `tls_dir` (once)."""
    if (tls_dir / "ca.crt").exists() and (tls_dir / "broker.p12").exists():
        return
    result = subprocess.run(["bash", str(MAKE_CERTS), str(tls_dir)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerError(f"certificate generation failed:\n{result.stdout}{result.stderr}")


def _config(sb: SecureBroker) -> Path:
    store_password = (sb.tls_dir / "store-password").read_text(encoding="utf-8").strip()
    text = TEMPLATE.read_text(encoding="utf-8").format(
        port=sb.broker.port,
        controller_port=sb.broker.controller_port,
        data_dir=sb.broker.state_dir / "data",
        admin_user=ADMIN_USER,
        admin_password=sb.users[ADMIN_USER],
        keystore=sb.tls_dir / "broker.p12",
        truststore=sb.tls_dir / "truststore.p12",
        store_password=store_password,
    )
    text += AUTHORIZER.format(admin_user=ADMIN_USER)
    path = sb.broker.state_dir / "server.properties"
    path.touch(mode=0o600)
    path.write_text(text, encoding="utf-8")
    return path


def _format(sb: SecureBroker, config: Path) -> None:
    if (sb.broker.state_dir / "data" / "meta.properties").exists():
        return
    cluster_id = new_cluster_id()
    scram: list[str] = []
    for user, password in sb.users.items():
        scram += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
    result = subprocess.run(
        _java_cmd("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config), *scram),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BrokerError(f"formatting the secure broker's storage failed:\n{result.stdout}{result.stderr}")


def answers(settings: KafkaSettings, timeout: float = 5.0) -> bool:
    """True when the broker answers a metadata request made with these settings."""
    from referral_bus.kafka import client_kwargs

    return asyncio.run(probe(client_kwargs(settings), timeout))


def start(broker: LocalBroker, tls_dir: Path, users: list[str], *, timeout: float = 120.0) -> SecureBroker:
    """Certificates, users (random passwords), format, start; return once an authenticated client connects."""
    check_tools()
    resolve_jars()
    broker.state_dir.mkdir(parents=True, exist_ok=True)
    make_certs(tls_dir)
    sb = SecureBroker(broker, tls_dir, {u: secrets.token_hex(16) for u in [ADMIN_USER, *users]})
    config = _config(sb)
    _format(sb, config)
    probe = sb.settings(ADMIN_USER)
    what = f"the secure broker on {broker.bootstrap}"
    ready = functools.partial(answers, probe, timeout=3.0)
    broker.launch(_java_cmd("kafka.Kafka", str(config)), ready, timeout=timeout, error=BrokerError, what=what)
    return sb


def stop(broker: LocalBroker, *, timeout: float = 30.0) -> None:
    """Stop this secure instance (only the process recorded in its own state directory)."""
    processes.terminate(broker.pid_file, timeout=timeout)
