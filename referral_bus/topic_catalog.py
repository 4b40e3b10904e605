"""The topics Faust creates for the workers: each table's changelog and each app's leader-election topic.

With topics.ALL they are the code's topics; referral_domain/agency_topics.py adds the data's and
`declared()` there lists every topic (scripts/k8s/gen_topics.py renders it as KafkaTopics).
"""

from __future__ import annotations

from dataclasses import dataclass

from referral_bus import topics
from referral_bus.topics import DAY_MS, HASHES, IDS, PERSONAL, TopicSpec


@dataclass(frozen=True)
class Lane:
    """A priority lane: the referrals topic and the retry topic (contract names) of the referrals of `priorities`."""

    name: str
    topic: str
    retry: str
    priorities: frozenset[str]


# Priority lanes (docs/architecture.md, "Priority lanes"): routing, re-routing and SLA escalations produce
# each referral to the lane of its priority, and the notifier its retries and breaker deferrals to that
# lane's retry topic; the notifier reads each of these topics with an agent of its own, so a backlog on one
# lane never delays another. Most urgent first; the last lane takes any priority none names.
LANES: tuple[Lane, ...] = (
    Lane("urgent", topics.REFERRALS_URGENT, topics.RETRY_URGENT, frozenset({"P1"})),
    Lane("standard", topics.REFERRALS, topics.RETRY, frozenset({"P2", "P3", "P4"})),
)


def lane_of(priority: str) -> Lane:
    """The lane a referral of `priority` travels in (the last lane for a priority no lane names)."""
    return next((lane for lane in LANES if priority in lane.priorities), LANES[-1])


def lane_topics() -> tuple[str, ...]:
    """Every lane's referrals topic (contract names): what a reader of all referrals reads."""
    return tuple(lane.topic for lane in LANES)


def retry_topics() -> tuple[str, ...]:
    """Every lane's retry topic (contract names): what the notifier's retries travel on."""
    return tuple(lane.retry for lane in LANES)


CHANGELOG_SUFFIX = "-changelog"  # how every table's changelog topic name ends (Faust's naming)


def changelog(service: str, table: str) -> str:
    """Faust's changelog topic of a table: `<app id>-<table>-changelog` (before namespacing)."""
    return f"referral-bus-{service}-{table}{CHANGELOG_SUFFIX}"


def leader(service: str) -> str:
    """Faust's leader-election topic of an app (one partition, empty)."""
    return f"referral-bus-{service}-__assignor-__leader"


STATS_RETENTION_MS = next(t.retention_ms for t in topics.ALL if t.name == topics.STATS)

# Every table's changelog (compacted: the latest value per key, none older than its retention). Keep in step
# with the Service.table(...) declarations in services/*/app.py (a test through the real broker fails otherwise).
# Retention: how long an entry outlives its last write. Stats: kept as long as the weeks they make are published
# (referrals.stats.v1): a restarted worker re-publishes every week it holds, so a member must outlive its week.
# fmt: off
_TABLES: tuple[tuple[str, str, int, str, str], ...] = (  # (service, table, retention, sensitivity, what it holds)
    ("intake", "dedup", 30 * DAY_MS, IDS,
     "(agency, report) -> case id, for deduplication (INTAKE_DEDUP_WINDOW_DAYS)"),
    ("intake", "content", 7 * DAY_MS, HASHES,
     "content key -> first case (with its agency's claim count), for correlation (INTAKE_CORRELATION_WINDOW_HOURS)"),
    ("intake", "pending", 7 * DAY_MS, PERSONAL,
     "case id -> the accepted case (Avro) until its correlation verdict has emitted it"),
    ("notifier", "deliveries", 30 * DAY_MS, IDS,
     "referral id -> when delivered: marks of the former layout, read only until they expire"),
    ("notifier", "parked", 7 * DAY_MS, PERSONAL,
     "retries not yet due, each with its whole referral (NOTIFIER_MAX_RETRY_AGE_SECONDS)"),
    ("notifier", "referral_state", 30 * DAY_MS, PERSONAL,
     "closed-loop state per referral from its arrival (and its delivered-once mark), the referral until acknowledged"),
    ("notifier", "escalations", 30 * DAY_MS, IDS,
     "referral id -> last SLA period escalated"),
    ("notifier", "early_acks", 30 * DAY_MS, IDS,
     "acknowledgements that came before their referral (NOTIFIER_EARLY_ACK_TTL_SECONDS)"),
    ("notifier", "breakers", 7 * DAY_MS, IDS,
     "circuit breaker state per recipient (and partition), restored on restart"),
    ("routing", "routed", 30 * DAY_MS, IDS,
     "case id -> its holders, priority and SLA, for linked reports (ROUTING_LINKED_WINDOW_HOURS)"),
    ("stats", "members", STATS_RETENTION_MS, PERSONAL,
     "who is counted in which weekly cell (case id with its category, unit, age band, sex)"),
    ("stats", "facts", STATS_RETENTION_MS, PERSONAL,
     "per case its week and provincial unit, and decisions and receipts waiting for it"),
    ("inbox", "inbox", 30 * DAY_MS, PERSONAL,
     "referral id -> the redacted document an inbox recipient sees, its status and history"),
    ("ledger", "heads", 3650 * DAY_MS, IDS,
     "per ledger partition the last seq and digest of its chain (also the verify anchor)"),
    ("ledger", "seen", 30 * DAY_MS, IDS,
     "disclosure or erasure id -> seq appended, so a repeated event is appended once"),
    ("inbox", "signouts", 7 * DAY_MS, IDS,
     "signed-out session id -> its expiry, so a copied cookie is refused (INBOX_SESSION_MINUTES)"),
)
# fmt: on
CHANGELOGS: tuple[TopicSpec, ...] = tuple(
    TopicSpec(changelog(service, table), f"{service} table: {what}", retention, compacted=True, sensitivity=sensitivity)
    for service, table, retention, sensitivity, what in _TABLES
)
# A service's own topics besides its tables' (its app id's prefix: only its own KafkaUser reaches them).
INBOX_SIGNOUTS = "referral-bus-inbox-signouts"
OWN: tuple[TopicSpec, ...] = (
    TopicSpec(
        INBOX_SIGNOUTS,
        "inbox: each sign-out (session id and expiry), written to its signouts table",
        7 * DAY_MS,
        sensitivity=IDS,
    ),
)
LEADERS: tuple[TopicSpec, ...] = tuple(
    TopicSpec(leader(s), f"Faust: {s} leader election (empty)", DAY_MS, sensitivity=IDS, partitions=1)
    for s in ("intake", "routing", "notifier", "stats", "inbox", "ledger")
)


def changelog_config(service: str, table: str) -> dict[str, str]:
    """A table's changelog settings as declared (Table(extra_topic_configs=...)): a local worker creates it so too."""
    return topics.config_of(next(c for c in CHANGELOGS if c.name == changelog(service, table)))
