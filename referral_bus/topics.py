"""Kafka topic names: the one source of truth for code, tests and manifests."""

from __future__ import annotations

from dataclasses import dataclass

from referral_bus.settings import BusSettings

INTAKE = "referrals.intake.v1"
CASES = "referrals.cases.v1"
CORRELATION = "referrals.correlation.v1"
DECISIONS = "referrals.decisions.v1"
REFERRALS = "referrals.referrals.v1"
REFERRALS_URGENT = "referrals.referrals.urgent.v1"  # the urgent lane (topic_catalog.LANES)
RETRY = "referrals.retry.v1"  # the standard lane's retries (topic_catalog.LANES)
RETRY_URGENT = "referrals.retry.urgent.v1"  # the urgent lane's retries
RECEIPTS = "referrals.receipts.v1"
ACKS = "referrals.acks.v1"
DEADLETTER = "referrals.deadletter.v1"
DEADLETTER_DIGESTS = "referrals.deadletter-digests.v1"
STATS = "referrals.stats.v1"
REROUTE = "referrals.reroute.v1"
INBOX = "referrals.inbox.v1"
DISCLOSURES = "referrals.disclosures.v1"
LEDGER = "referrals.ledger.v1"
CASEKEYS = "referrals.casekeys.v1"
CORRELATION_VERDICTS = "referrals.correlation.verdicts.v1"

PARTNER_PREFIX = "referrals.partner."
PARTNER_SUFFIX = ".v1"
# One intake topic per agency and one ack topic per Kafka-acknowledging recipient (referral_domain/agencies.py).
INTAKE_PREFIX = "referrals.intake."
ACKS_PREFIX = "referrals.acks."
STATUS_PREFIX = "referrals.status."  # one status topic per reporting agency (docs/lifecycle.md)
VERSION_SUFFIX = ".v1"


# What a topic holds, noted on every declared topic (manifest annotation referral-bus/sensitivity).
PERSONAL = "personal data: reports, cases or referrals"
HASHES = "content keys: hashes of content and URLs, and case ids"
IDS = "identifiers and states only, no personal data"
AGGREGATES = "anonymised counts after disclosure control, no personal data"
KEYS = "per-case data keys, wrapped: deleting one makes its case's personal fields unreadable"


@dataclass(frozen=True)
class TopicSpec:
    """A topic the services use, with what Kubernetes/Strimzi needs to declare it.

    `compacted`: cleanup.policy compact,delete (a table's changelog: the latest value per key, and
    none older than `retention_ms`). `partitions`: None = KAFKA_TOPIC_PARTITIONS like every topic of
    a co-partitioned flow; Faust's leader-election topic has exactly one. `broker_time`:
    message.timestamp.type LogAppendTime (intake topics: the broker stamps each report when it appends it,
    the time intake judges its windows by, the same on every replay and out of producers' reach).
    """

    name: str
    purpose: str
    retention_ms: int
    compacted: bool = False
    sensitivity: str = PERSONAL
    partitions: int | None = None
    broker_time: bool = False


DAY_MS = 24 * 3600 * 1000

# Every topic of the code: (name, retention, sensitivity, purpose); compacted: the two in COMPACTED.
# fmt: off
_DECLARED: tuple[tuple[str, int, str, str], ...] = (
    (INTAKE, 14 * DAY_MS, PERSONAL,
     "internal intake: operators' replays and tests; no agency may write here"),
    (CASES, 30 * DAY_MS, PERSONAL,
     "accepted, deduplicated cases keyed by case_id"),
    (CORRELATION, 7 * DAY_MS, HASHES,
     "intake-internal: correlation hops and claims keyed by content key (ids and digests, never the case)"),
    (DECISIONS, 365 * DAY_MS, IDS,
     "routing decisions, per case and linked report"),
    (REFERRALS, 30 * DAY_MS, PERSONAL,
     "one referral per recipient, keyed by case_id"),
    (REFERRALS_URGENT, 30 * DAY_MS, PERSONAL,
     "the urgent lane: referrals of the most urgent priorities (topic_catalog.LANES), keyed by case_id"),
    (RETRY, 7 * DAY_MS, PERSONAL,
     "referrals waiting for a delivery retry (the standard lane's: topic_catalog.LANES)"),
    (RETRY_URGENT, 7 * DAY_MS, PERSONAL,
     "the urgent lane's referrals waiting for a delivery retry (topic_catalog.LANES), keyed by case_id"),
    (RECEIPTS, 365 * DAY_MS, IDS,
     "referral lifecycle receipts"),
    (ACKS, 30 * DAY_MS, IDS,
     "acknowledgements from the notifier's authenticated HTTP endpoint"),
    # the original bytes only for REFERRAL_BUS_DEADLETTER_RETENTION_DAYS; the digest and reason for a year
    (DEADLETTER, BusSettings().deadletter_retention_days * DAY_MS, PERSONAL,
     "everything that could not be processed, with its original bytes"),
    (REROUTE, 30 * DAY_MS, PERSONAL,
     "notifier -> routing: declined or transferred referrals to send on"),
    (INBOX, 30 * DAY_MS, PERSONAL,
     "referral documents for inbox users, redacted to their profile, keyed by case_id"),
    (STATS, 3650 * DAY_MS, AGGREGATES,
     "anonymised weekly statistics after disclosure control, keyed by ISO week"),
    (DEADLETTER_DIGESTS, 365 * DAY_MS, IDS,
     "every dead letter without its bytes: ids, stage, reason, message and the digest of the original"),
    (DISCLOSURES, 30 * DAY_MS, IDS,
     "who received which fields of a case (paths, never values), for the ledger worker to chain"),
    # longer than any topic holding a sealed field; an expired key shreds its case
    (CASEKEYS, 400 * DAY_MS, KEYS,
     "per-case data keys (wrapped) keyed by case_id; a tombstone erases the case (referral-bus erase)"),
    (LEDGER, 3650 * DAY_MS, IDS,
     "append-only hash-chained ledger of disclosures, erasures and signed checkpoints (audit verify)"),
    (CORRELATION_VERDICTS, 7 * DAY_MS, HASHES,
     "intake-internal: correlation verdicts keyed like the report, back to its partition (ids and digests)"),
)
# fmt: on
COMPACTED = frozenset({STATS, CASEKEYS})  # the latest value per key (and none older than the retention)
BROKER_TIMED = frozenset({INTAKE})  # and every agency's intake topic (agency_intake_spec)
ALL: tuple[TopicSpec, ...] = tuple(
    TopicSpec(
        name, purpose, retention, compacted=name in COMPACTED, sensitivity=sensitivity, broker_time=name in BROKER_TIMED
    )
    for name, retention, sensitivity, purpose in _DECLARED
)
INTAKE_RETENTION_MS = 14 * DAY_MS


def agency_intake_spec(agency_id: str) -> TopicSpec:
    """An agency's own intake topic: like the internal one, stamped by the broker."""
    purpose = f"reports of agency {agency_id} (only its KafkaUsers may write)"
    return TopicSpec(intake_topic(agency_id), purpose, INTAKE_RETENTION_MS, broker_time=True)


def config_of(spec: TopicSpec) -> dict[str, str]:
    """The settings a worker creates `spec` with, as its KafkaTopic declares them (retention; compaction).

    The broker enforces the retention wherever the topic is created (docs/data-protection.md).
    """
    config = {"retention.ms": str(spec.retention_ms)}
    if spec.compacted:
        config = {"cleanup.policy": "compact,delete", **config}
    if spec.broker_time:
        config["message.timestamp.type"] = "LogAppendTime"
    return config


def created_config(broker_name: str) -> dict[str, str]:
    """Settings for a shared topic by its name on the broker (namespaced or not); {} for any other topic."""
    spec = next((t for t in ALL if broker_name == t.name or broker_name.endswith("." + t.name)), None)
    ns = namespace()
    contract = broker_name.removeprefix(f"{ns}.") if ns else broker_name
    if spec is None and contract.startswith(INTAKE_PREFIX) and contract.endswith(VERSION_SUFFIX):
        spec = agency_intake_spec(contract.removeprefix(INTAKE_PREFIX).removesuffix(VERSION_SUFFIX))
    return config_of(spec) if spec is not None else {}


def namespace() -> str:
    """Optional prefix for every topic and consumer group (isolates test runs on one broker)."""
    return BusSettings().namespace


def name(topic: str) -> str:
    """The topic's name on the broker, with the namespace prefix if one is set."""
    ns = namespace()
    return f"{ns}.{topic}" if ns else topic


def partner_topic(recipient_id: str) -> str:
    """The contract name of the partner topic that carries referrals for one recipient (before namespacing)."""
    return f"{PARTNER_PREFIX}{recipient_id}{PARTNER_SUFFIX}"


def intake_topic(agency_id: str) -> str:
    """The contract name of an agency's own intake topic (only its principals may write to it)."""
    return f"{INTAKE_PREFIX}{agency_id}{VERSION_SUFFIX}"


def acks_topic(recipient_id: str) -> str:
    """The contract name of a recipient's own acknowledgement topic (only its agency's principals may write)."""
    return f"{ACKS_PREFIX}{recipient_id}{VERSION_SUFFIX}"


def status_topic(agency_id: str) -> str:
    """The contract name of an agency's own status topic (only that agency may read it)."""
    return f"{STATUS_PREFIX}{agency_id}{VERSION_SUFFIX}"
