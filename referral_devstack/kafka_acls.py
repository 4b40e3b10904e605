"""Kafka ACLs as data: the Strimzi KafkaUser manifests, read and applied to a broker of our own.

The one list of who may do what is `deploy/k8s/base/kafka/users.yaml` (a KafkaUser per service,
`spec.authorization.acls`; the inbox's, generated, in `inbox-user.yaml`). The local TLS+SASL
broker (secure_broker.py) runs with the KRaft StandardAuthorizer and gets exactly these ACLs, so
the tests exercise the permissions production gets; a permission the code needs but the manifest
lacks fails a test instead of a deployment.

Names in the manifests are the contract topic and group names; `namespaced` puts the test run's
REFERRAL_BUS_NAMESPACE prefix in front of them, as topics.name() does for the topics themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_devstack.errors import BrokerError

KAFKA_USERS = REPO_ROOT / "deploy" / "k8s" / "base" / "kafka" / "users.yaml"
INBOX_USER = KAFKA_USERS.with_name("inbox-user.yaml")  # generated: its users' ack topics by name
SERVICE_USERS = (KAFKA_USERS, INBOX_USER)  # every service's KafkaUser

# Kafka protocol codes (org.apache.kafka.common.resource / acl enums)
RESOURCE_TYPES = {"topic": 2, "group": 3, "cluster": 4, "transactionalId": 5}
PATTERN_TYPES = {"literal": 3, "prefix": 4}
OPERATIONS = {
    "All": 2,
    "Read": 3,
    "Write": 4,
    "Create": 5,
    "Delete": 6,
    "Alter": 7,
    "Describe": 8,
    "ClusterAction": 9,
    "DescribeConfigs": 10,
    "AlterConfigs": 11,
    "IdempotentWrite": 12,
}
ALLOW = 3


@dataclass(frozen=True)
class Acl:
    """One allowed operation of one principal on one resource (or resource-name prefix)."""

    user: str
    resource_type: str  # topic | group | cluster | transactionalId
    name: str
    pattern: str  # literal | prefix
    operation: str  # Read, Write, ...

    @property
    def principal(self) -> str:
        """The SASL principal, as the broker sees it."""
        return f"User:{self.user}"


def load_kafka_users(*paths: Path) -> dict[str, list[Acl]]:
    """KafkaUser name → its ACLs, from Strimzi manifests (other kinds in the files are skipped)."""
    users: dict[str, list[Acl]] = {}
    for path in paths or SERVICE_USERS:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or doc.get("kind") != "KafkaUser":
                continue
            user = doc["metadata"]["name"]
            acls = ((doc.get("spec") or {}).get("authorization") or {}).get("acls") or []
            users[user] = [a for rule in acls for a in _expand(user, rule, path)]
    return users


def _parse(user: str, rule: dict[str, Any], path: Path) -> Acl:
    """Validate one rule's resource (for its error message); the operations are expanded by `_expand`."""
    res = rule.get("resource") or {}
    kind, pattern = res.get("type"), res.get("patternType", "literal")
    if kind not in RESOURCE_TYPES or pattern not in PATTERN_TYPES:
        raise BrokerError(f"{path}: KafkaUser {user}: unsupported ACL resource {res!r}")
    return Acl(user, kind, res.get("name", "kafka-cluster"), pattern, "Describe")


def _expand(user: str, rule: dict[str, Any], path: Path) -> list[Acl]:
    """One manifest rule (resource + operations) → one Acl per operation."""
    base = _parse(user, rule, path)
    ops = rule.get("operations") or ([rule["operation"]] if "operation" in rule else [])
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown or not ops:
        raise BrokerError(f"{path}: KafkaUser {user}: unsupported or missing ACL operations {unknown or ops}")
    return [replace(base, operation=op) for op in ops]


def namespaced(acls: Iterable[Acl], namespace: str) -> list[Acl]:
    """The same ACLs on the namespace's topics and groups (`<ns>.<name>`); unchanged without a namespace."""
    if not namespace:
        return list(acls)
    return [a if a.resource_type == "cluster" else replace(a, name=f"{namespace}.{a.name}") for a in acls]


async def apply(admin: KafkaSettings, acls: Iterable[Acl], *, timeout: float = 30.0) -> int:
    """Create the ACLs on the broker, connected as a super user; returns how many were created."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.protocol.admin import CreateAclsRequest

    from referral_bus.kafka import client_kwargs

    client = AIOKafkaAdminClient(**client_kwargs(admin), request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(client.start(), timeout)
    n = 0
    try:
        for a in acls:
            request = CreateAclsRequest(
                RESOURCE_TYPES[a.resource_type],
                a.name,
                PATTERN_TYPES[a.pattern],
                a.principal,
                "*",
                OPERATIONS[a.operation],
                ALLOW,
            )
            response = await client._send_request(request)
            for error_code, message in response.creation_responses:
                if error_code:
                    raise BrokerError(f"creating ACL {a} failed: error {error_code} {message or ''}".strip())
            n += 1
    finally:
        await client.close()
    return n
