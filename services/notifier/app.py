"""Notifier worker: `faust -A services.notifier.app worker`.

This module only assembles the worker: `app` (and `service`, `settings`) come from worker.py, and
importing agents, timers and ackview here registers everything on that app (they pull in topology
and wiring). The modules:
- topology.py: the topics and the changelogged tables (and the in-memory `released` set).
- wiring.py: the directory, secrets, channels, Deliverer, retry policy, breakers; emit/requeue.
- agents.py: the three agents and their handlers, all through Service.run_guarded, so no failure
  stops a partition:
  - referrals: first delivery attempt of every referral (and of SLA escalations).
  - retry: referrals whose attempt failed or whose recipient is paused. A record that is not due
    yet is *parked* in the changelogged `parked` table and the partition moves on at once; a timer
    re-produces it to the retry topic when due. Nothing ever sleeps in an agent, so one slow or
    failing recipient never holds up the others on its partition (see docs/webhooks.md).
  - acks: recipients' acknowledgements (from the HTTP endpoint or produced directly), keyed by
    case_id like the referrals, so the `referral_state` lookup is partition-local.
- timers.py: release due parked retries; escalate delivered referrals nobody acknowledged in time.
  Faust runs every timer on every worker and a memory table keeps keys written before a rebalance,
  so both timers act only on entries of partitions this worker actively owns right now (see
  ownership.py), and not at all while a rebalance or table recovery is in progress.
- ackview.py: `POST /referrals/{id}/ack`, which produces acknowledgements to the acks topic.
The logic with no Kafka in it lives in plain modules tested on their own: deliver.py, backoff.py,
breaker.py, acks.py, sla.py, keylocks.py, ownership.py (its pure half), redaction.py, payload.py,
signing.py and channels/.
"""

from __future__ import annotations

from services.notifier import ackview, agents, timers
from services.notifier.worker import app, service, settings

__all__ = ["ackview", "agents", "app", "service", "settings", "timers"]
