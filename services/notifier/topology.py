"""The notifier's topics and tables (names are part of the deployment: changelogs are named after them).

All tables are written only while handling an event of a topic keyed by case_id, so each entry lives
in the changelog partition of its case and is found again by the worker owning that case. The one
exception, `escalations`, is written by the SLA timer, which has no current event, so its changelog
record goes explicitly to the referral's own partition (see timers.mark_escalated).
"""

from __future__ import annotations

from referral_bus import topics
from services.notifier.worker import app, service

referrals_topic = service.topic(topics.REFERRALS)
retry_topic = service.topic(topics.RETRY)
receipts_topic = service.topic(topics.RECEIPTS)
acks_topic = service.topic(topics.ACKS)

_partitions = service.kafka.topic_partitions
# referral id → when it was delivered (ms): the delivered-once check.
delivered = app.Table("deliveries", default=None, partitions=_partitions, key_type=str, value_type=int)
# referral id → a retry that is not due yet: case_id, not_before, the record (base64), partition.
parked = app.Table("parked", default=None, partitions=_partitions, key_type=str)
# referral id → the closed-loop state of a delivered referral (sla.delivered_state).
state = app.Table("referral_state", default=None, partitions=_partitions, key_type=str)
# referral id → last SLA period escalated.
escalations = app.Table("escalations", default=None, partitions=_partitions, key_type=str, value_type=int)

# Parked referrals re-produced by this worker and not seen back yet (memory only), so the retry
# timer does not release one again on every tick while it is on its way.
released: set[str] = set()
