"""Notifier worker: `faust -A services.notifier.app worker`.

The Faust shell only: settings, the app, its topics and tables, the delivery parts built from
settings, the agents, the timers and the acknowledgement endpoint. What one event does is in
handlers.py (through Service.run_guarded, so no failure stops a partition); the decisions are pure:
decide.py (park, duplicate, breaker admission, retry or give up), deliver.py, backoff.py, breaker.py,
acks.py, sla.py, keylocks.py, ownership.py, redaction.py, payload.py, signing.py and channels/.

- referrals, one agent per priority lane (topic_catalog.LANES: the urgent lane for P1, the standard
  lane for the rest): first delivery attempt of every referral (and of SLA escalations), several at
  once. Each lane has its own handler slots and in-flight budget, so a backlog on the standard lane
  never delays an urgent referral (docs/architecture.md, "Priority lanes").
- retries, one agent per priority lane's retry topic (the urgent one for P1, with the same precedence):
  referrals whose attempt failed or whose recipient is paused. A record not due yet is *parked* in the
  changelogged `parked` table (with its priority) and the partition moves on at once; a timer
  re-produces it to its lane's retry topic when due. Nothing ever sleeps in an agent, so one slow or
  failing recipient never holds up the others on its partition (see docs/webhooks.md), and a P1 retry
  never waits behind P4 retries.
- acks: recipients' acknowledgements (from the HTTP endpoint, or produced by a recipient's agency to
  the recipient's own ack topic), keyed by case_id like the referrals, so the `referral_state`
  lookup is partition-local.
- timers: release due parked retries; escalate referrals nobody acknowledged in time from routing,
  delivered or not (through an index by due time, rebuilt when partitions are assigned);
  refresh the pending-referral gauges (gauges.py; breakers are read at scrape time).

All tables are written only while handling an event of a topic keyed by case_id, so each entry lives
in the changelog partition of its case and is found again by the worker owning that case; the
exceptions, `escalations` and expired `early_acks`, are written by the SLA timer with an explicit
partition (handlers.py).
`breakers` is per recipient but written from any case's event, so its keys name that event's partition
(breaker.snapshot_key): a restarted worker restores the newest snapshot among the partitions it holds.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from referral_bus import logging as rb_logging
from referral_bus import topics
from referral_bus.expiry import Expiry
from referral_bus.lanes import LaneTopics
from referral_bus.shell import Service, load_or_exit
from referral_bus.status import StatusTopics
from referral_bus.topic_catalog import LANES
from referral_domain import lifecycle as rb_lifecycle
from referral_domain import safeguards as rb_safeguards
from referral_domain.agencies import load_agencies
from referral_domain.agency_topics import inbox_ack_topics
from referral_domain.directory import load_directory
from services.notifier.ackview import register_ack_view
from services.notifier.actions import RecipientActions
from services.notifier.backoff import RetryPolicy
from services.notifier.breaker import Breakers, snapshot_key
from services.notifier.channels.base import Channel
from services.notifier.channels.email import Email
from services.notifier.channels.inbox import InboxTopic, WithInboxCopy, link_maker
from services.notifier.channels.partner import PartnerTopic
from services.notifier.channels.webhook import Webhook
from services.notifier.deliver import Deliverer
from services.notifier.delivered import DeliveredMarks
from services.notifier.gauges import Gauges
from services.notifier.handlers import Notifier, Tables, Topics
from services.notifier.lifecycle import PACKED
from services.notifier.ownership import owned_partitions, still_owned
from services.notifier.precedence import Precedence
from services.notifier.retention import closed, retention_ms
from services.notifier.secrets import Secrets
from services.notifier.settings import NotifierSettings

settings = NotifierSettings()
service = Service(
    "notifier",
    settings,
    encodes=("DeliveryReceipt", "Referral", "Acknowledgement", "Disclosure", "RerouteRequest", "ReportStatus"),
)
app = service.app

# Each Kafka-acknowledging recipient's own ack topic: only its agency's KafkaUser may write there, so
# the topic says who acknowledges (config/agencies.yaml); the acks agent reads them all.
# Inbox users' ack topics: the inbox writes each signed-in recipient's actions to its own (docs/inbox.md).
_registry = load_agencies(settings.agencies_path)
_ack_topics = {
    **inbox_ack_topics(load_directory(settings.directory_path)),
    **_registry.ack_topics(),
}  # contract name → recipient id
notifier_topics = Topics(
    lanes=LaneTopics(service),
    retries=LaneTopics(service, retries=True),
    receipts=service.topic(topics.RECEIPTS),
    acks=service.topic(topics.ACKS),
    acks_in=service.topic(topics.ACKS, *sorted(_ack_topics)),
    recipient_of={topics.name(t): recipient for t, recipient in _ack_topics.items()},
    disclosures=service.topic(topics.DISCLOSURES),
)
_partitions = service.kafka.topic_partitions
_retention = retention_ms(settings.referral_retention_days)  # closed referrals' state, delivered marks
_state = service.table("referral_state", expiry=Expiry(_retention, closed=closed), packed=PACKED)
# Marks of the former layout (one record of their own per delivery): read only, until they expire (delivered.py).
_former_marks = service.table("deliveries", value_type=int, expiry=Expiry(_retention))
tables = Tables(
    delivered=DeliveredMarks(_state, legacy=_former_marks),  # the delivered-once mark: in the state entry
    parked=service.table("parked"),
    state=_state,
    escalations=service.table("escalations", value_type=int),
    breakers=service.table("breakers"),
    early_acks=service.table("early_acks"),
)


def _saved_breakers(recipient_id: str) -> list[dict[str, Any]]:
    """Every snapshot of a recipient's breaker in the partitions this worker holds (the newest wins)."""
    keys = (snapshot_key(recipient_id, p) for p in range(_partitions))
    return [snap for key in keys if (snap := tables.breakers.get(key)) is not None]


secrets = Secrets(settings.secrets_dir)
directory = load_directory(settings.directory_path)
safeguards = load_or_exit("notifier", "the safeguards", rb_safeguards.from_settings)
if not settings.tls_verify and not safeguards.dev_insecure_transport:
    sys.stderr.write(
        "notifier: cannot start: NOTIFIER_TLS_VERIFY=false is allowed only with the development setting "
        "REFERRAL_BUS_DEV_INSECURE_TRANSPORT=true\n"
    )
    raise SystemExit(78)
if safeguards.dev_insecure_transport:
    rb_logging.get_logger().warning(rb_safeguards.DEV_WARNING, tls_verify=settings.tls_verify)
_partner_topics = {
    r.id: service.topic(topics.partner_topic(r.id)) for r in directory.recipients.values() if r.channel.type == "kafka"
}


async def _send_partner(recipient_id: str, key: bytes, value: bytes) -> None:
    await service.send(_partner_topics[recipient_id], key, value)


_inbox_topic = service.topic(topics.INBOX)


async def _send_inbox(key: bytes, value: bytes) -> None:
    await service.send(_inbox_topic, key, value)


_keys = service.case_keys()  # opens sealed cases before redaction; reseals the inbox's copies
inbox = InboxTopic(_send_inbox, seal=_keys.reseal if _keys.enabled else None)
_email = Email(
    secrets,
    timeout_seconds=settings.http_timeout_seconds,
    link=link_maker(settings.inbox_url, lambda: secrets.get("inbox-link-key"), settings.inbox_link_ttl_seconds)
    if settings.inbox_url
    else None,
)
channels: dict[str, Channel] = {
    "webhook": Webhook(
        secrets,
        timeout_seconds=settings.http_timeout_seconds,
        verify_tls=settings.tls_verify,
        # every lane's and retry lane's slots at once: a backlog on one lane never holds another's connections
        max_connections=max(100, settings.delivery_concurrency * 2 * len(LANES)),
    ),
    "email": WithInboxCopy(_email, inbox) if settings.inbox_url else _email,
    "kafka": PartnerTopic(_send_partner),
    "inbox": inbox,
}
# The referrals topics are co-partitioned with every other topic and table (all keyed by case_id).
_referrals_name = topics.name(topics.REFERRALS)
notifier = Notifier(
    service=service,
    topics=notifier_topics,
    tables=tables,
    directory=directory,
    deliverer=Deliverer(directory, channels, tables.delivered, safeguards_version=safeguards.version, keys=_keys),
    policy=RetryPolicy(
        settings.max_attempts,
        settings.backoff_base_seconds,
        settings.backoff_max_seconds,
        settings.max_retry_age_seconds,
    ),
    breakers=Breakers(settings.breaker_failure_threshold, settings.breaker_reset_seconds, saved=_saved_breakers),
    breaker_reset_seconds=settings.breaker_reset_seconds,
    owned=lambda: owned_partitions(app, _referrals_name),
    still_owned=lambda partition: still_owned(app, _referrals_name, partition),
    gate=rb_safeguards.Gate(safeguards, directory),
    early_ack_limit=settings.early_ack_limit,
    early_ack_ttl_seconds=settings.early_ack_ttl_seconds,
    precedence=Precedence(max_wait_s=settings.lane_yield_max_seconds),
)
# the referral lifecycle: recipient actions, re-route requests, agencies' status (docs/lifecycle.md)
_lifecycle = load_or_exit("notifier", "the lifecycle", rb_lifecycle.from_settings)
notifier.actions = RecipientActions(
    service,
    _lifecycle,
    directory,
    tables.state,
    notifier.emit,
    service.topic(topics.REROUTE),
    StatusTopics(service, _registry),
)
register_ack_view(app, notifier, secrets, max_body_bytes=settings.ack_max_body_bytes)
_expiring = (tables.state, _former_marks)  # swept by every agent: all of them write in the case's partition


def lane_agents(lanes: LaneTopics, kind: str, *, from_retry: bool) -> dict[str, Any]:
    """One agent per topic of `lanes` (its own slots), several events at once; run_guarded dead-letters failures.

    The first (most urgent) lane has precedence: the others start no event while it has one in hand.
    """
    return {
        name: service.agent(
            topic,
            partial(notifier.urgent if lane is LANES[0] else notifier.after_urgent, from_retry=from_retry),
            name=f"{__name__}.{lane.name}_{kind}_agent",
            concurrency=settings.delivery_concurrency,
            expire=_expiring,
        )
        for name, (topic, lane) in lanes.by_topic.items()
    }


first_agents = lane_agents(notifier_topics.lanes, "lane", from_retry=False)  # first attempts (and escalations)
retry_agents = lane_agents(notifier_topics.retries, "retry", from_retry=True)  # park until due, then attempt


@app.agent(notifier_topics.acks_in)
async def acks_agent(stream):  # type: ignore[no-untyped-def]  # Faust agents take an untyped stream
    """Acknowledgements close the loop."""
    await service.run_guarded(stream, notifier.ack, expire=_expiring)


@app.timer(settings.retry_release_interval_seconds)  # type: ignore[untyped-decorator]  # Faust's timer is untyped
async def release_due_retries() -> None:
    """Re-produce parked referrals whose time has come (the retry agent then attempts them)."""
    await notifier.release_due_retries()


@app.timer(settings.sla_check_interval_seconds)  # type: ignore[untyped-decorator]  # Faust's timer is untyped
async def check_sla() -> None:
    """Escalate referrals not acknowledged within their SLA from routing, once per SLA period."""
    await notifier.check_sla()


@app.on_partitions_assigned.connect
def sla_index_stale(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Partitions (re)assigned: the SLA index is rebuilt from the table once recovery is over."""
    notifier.due.invalidate()


gauges = Gauges(notifier)
gauges.install()


@app.timer(settings.sla_check_interval_seconds)  # type: ignore[untyped-decorator]  # Faust's timer is untyped
async def refresh_pending_gauges() -> None:
    """Recompute the pending referrals by priority and state that /metrics reports."""
    gauges.refresh()
