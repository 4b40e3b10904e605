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
    """A priority lane: the referrals topic (contract name) that carries the referrals of `priorities`."""

    name: str
    topic: str
    priorities: frozenset[str]


# Priority lanes (docs/architecture.md, "Priority lanes"): routing, re-routing and SLA escalations produce
# each referral to the lane of its priority; the notifier reads each lane with an agent of its own, so a
# backlog on one lane never delays another. Most urgent first; the last lane takes any priority none names.
LANES: tuple[Lane, ...] = (
    Lane("urgent", topics.REFERRALS_URGENT, frozenset({"P1"})),
    Lane("standard", topics.REFERRALS, frozenset({"P2", "P3", "P4"})),
)


def lane_of(priority: str) -> Lane:
    """The lane a referral of `priority` travels in (the last lane for a priority no lane names)."""
    return next((lane for lane in LANES if priority in lane.priorities), LANES[-1])


def lane_topics() -> tuple[str, ...]:
    """Every lane's referrals topic (contract names): what a reader of all referrals reads."""
    return tuple(lane.topic for lane in LANES)


def changelog(service: str, table: str) -> str:
    """Faust's changelog topic of a table: `<app id>-<table>-changelog` (before namespacing)."""
    return f"referral-bus-{service}-{table}-changelog"


def leader(service: str) -> str:
    """Faust's leader-election topic of an app (one partition, empty)."""
    return f"referral-bus-{service}-__assignor-__leader"


STATS_RETENTION_MS = next(t.retention_ms for t in topics.ALL if t.name == topics.STATS)

# Keep in step with the app.Table(...) declarations in services/*/app.py and topology.py (a test
# through the real broker fails otherwise). Retention: how long an entry outlives its last write.
CHANGELOGS: tuple[TopicSpec, ...] = (
    TopicSpec(
        changelog("intake", "dedup"),
        "intake table: (agency, report) -> case id, for deduplication (INTAKE_DEDUP_WINDOW_DAYS)",
        30 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
    TopicSpec(
        changelog("intake", "content"),
        "intake table: content key -> first case, for correlation (INTAKE_CORRELATION_WINDOW_HOURS)",
        7 * DAY_MS,
        compacted=True,
        sensitivity=HASHES,
    ),
    TopicSpec(
        changelog("intake", "claims"),
        "intake table: agency|day|partition -> content keys claimed (per-agency limit, config/agencies.yaml)",
        2 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
    TopicSpec(
        changelog("intake", "pending"),
        "intake table: case id -> the accepted case (Avro) until its correlation verdict has emitted it",
        7 * DAY_MS,
        compacted=True,
        sensitivity=PERSONAL,
    ),
    TopicSpec(
        changelog("notifier", "deliveries"),
        "notifier table: referral id -> when delivered (delivered-once check)",
        30 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
    TopicSpec(
        changelog("notifier", "parked"),
        "notifier table: retries not yet due, each with its whole referral (NOTIFIER_MAX_RETRY_AGE_SECONDS)",
        7 * DAY_MS,
        compacted=True,
        sensitivity=PERSONAL,
    ),
    TopicSpec(
        changelog("notifier", "referral_state"),
        "notifier table: closed-loop state per referral from its arrival, with the referral until acknowledged",
        30 * DAY_MS,
        compacted=True,
        sensitivity=PERSONAL,
    ),
    TopicSpec(
        changelog("notifier", "escalations"),
        "notifier table: referral id -> last SLA period escalated",
        30 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
    TopicSpec(
        changelog("notifier", "early_acks"),
        "notifier table: acknowledgements that came before their referral (NOTIFIER_EARLY_ACK_TTL_SECONDS)",
        30 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
    TopicSpec(
        changelog("notifier", "breakers"),
        "notifier table: circuit breaker state per recipient (and partition), restored on restart",
        7 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
    TopicSpec(
        changelog("routing", "routed"),
        "routing table: case id -> its holders, priority and SLA, for linked reports (ROUTING_LINKED_WINDOW_HOURS)",
        30 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
    # Stats: kept as long as the weeks they make are published (referrals.stats.v1): a restarted worker
    # re-publishes every week it holds, so a week's members must not expire before the week itself.
    TopicSpec(
        changelog("stats", "members"),
        "stats table: who is counted in which weekly cell (case id with its category, unit, age band, sex)",
        STATS_RETENTION_MS,
        compacted=True,
        sensitivity=PERSONAL,
    ),
    TopicSpec(
        changelog("stats", "facts"),
        "stats table: per case its week and provincial unit, and decisions and receipts waiting for it",
        STATS_RETENTION_MS,
        compacted=True,
        sensitivity=PERSONAL,
    ),
    TopicSpec(
        changelog("inbox", "inbox"),
        "inbox table: referral id -> the redacted document an inbox recipient sees, its status and history",
        30 * DAY_MS,
        compacted=True,
        sensitivity=PERSONAL,
    ),
)
CHANGELOGS += (
    TopicSpec(
        changelog("ledger", "heads"),
        "ledger table: per ledger partition the last seq and digest of its chain (also the verify anchor)",
        3650 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
    TopicSpec(
        changelog("ledger", "seen"),
        "ledger table: disclosure or erasure id -> seq appended, so a repeated event is appended once",
        30 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
)
CHANGELOGS += (
    TopicSpec(
        changelog("inbox", "signouts"),
        "inbox table: signed-out session id -> its expiry, so a copied cookie is refused (INBOX_SESSION_MINUTES)",
        7 * DAY_MS,
        compacted=True,
        sensitivity=IDS,
    ),
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
