"""Kafka topic names: the one source of truth for code, tests and manifests."""

from __future__ import annotations

from dataclasses import dataclass

from referral_bus.settings import BusSettings

INTAKE = "referrals.intake.v1"
CASES = "referrals.cases.v1"
CORRELATION = "referrals.correlation.v1"
DECISIONS = "referrals.decisions.v1"
REFERRALS = "referrals.referrals.v1"
RETRY = "referrals.retry.v1"
RECEIPTS = "referrals.receipts.v1"
ACKS = "referrals.acks.v1"
DEADLETTER = "referrals.deadletter.v1"
STATS = "referrals.stats.v1"

PARTNER_PREFIX = "referrals.partner."
PARTNER_SUFFIX = ".v1"


@dataclass(frozen=True)
class TopicSpec:
    """A topic the services use, with what Kubernetes/Strimzi needs to declare it."""

    name: str
    purpose: str
    retention_ms: int
    compacted: bool = False


DAY_MS = 24 * 3600 * 1000

ALL: tuple[TopicSpec, ...] = (
    TopicSpec(INTAKE, "agencies' case reports (Avro CaseReport)", 14 * DAY_MS),
    TopicSpec(CASES, "accepted, deduplicated cases keyed by case_id", 30 * DAY_MS),
    TopicSpec(CORRELATION, "intake-internal: accepted reports keyed by content key, for correlation", 7 * DAY_MS),
    TopicSpec(DECISIONS, "routing decisions, one per case (explainable)", 365 * DAY_MS),
    TopicSpec(REFERRALS, "one referral per recipient, keyed by case_id", 30 * DAY_MS),
    TopicSpec(RETRY, "referrals waiting for a delivery retry", 7 * DAY_MS),
    TopicSpec(RECEIPTS, "referral lifecycle receipts", 365 * DAY_MS),
    TopicSpec(ACKS, "recipients' acknowledgements", 30 * DAY_MS),
    TopicSpec(DEADLETTER, "everything that could not be processed, with its original bytes", 365 * DAY_MS),
    TopicSpec(STATS, "anonymised weekly statistics after disclosure control, keyed by ISO week", 3650 * DAY_MS, True),
)


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
