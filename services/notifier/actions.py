"""Recipient actions on a referral: the lifecycle core's outcome → table write, receipt, re-route, agency status.

Called by `Notifier.ack` for every decoded Acknowledgement (handlers.py), inside the ack's event, so the
`referral_state` write lands in the case's changelog partition, staged (`StagedTable`): durable once the
action's receipt, re-route request and status event are on the broker, dropped if they fail. What an
action does is decided by the pure core (services/notifier/lifecycle.py); this module only turns it into sends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust

from referral_bus import logging as rb_logging
from referral_bus import metrics, summary
from referral_bus.shell import Service
from referral_bus.staged import StagedTable
from referral_bus.status import StatusTopics, status_record
from referral_domain.directory import Directory
from referral_domain.lifecycle import Lifecycle
from services.notifier.deliver import receipt
from services.notifier.delivered import keep_mark
from services.notifier.lifecycle import Applied, apply, case_view, lifecycle_fields
from services.notifier.sla import ack_clock

log = rb_logging.get_logger()


def entry_id(referral: dict[str, Any]) -> str:
    """The referral id (a status event's step)."""
    return str(referral["referral_id"])


@dataclass
class RecipientActions:
    """Applies recipient actions; built once by app.py and handed to the Notifier."""

    service: Service
    lifecycle: Lifecycle
    directory: Directory
    state: Any  # the notifier's `referral_state` table
    emit: Callable[[dict[str, Any]], Awaitable[None]]  # a DeliveryReceipt to referrals.receipts.v1
    reroute_topic: faust.TopicT
    statuses: StatusTopics

    def __post_init__(self) -> None:
        # A state change stands for its receipt, re-route request and status event: it lands once they are
        # on the broker, and is dropped if they fail (the ack is dead-lettered; its replay applies it again).
        self.staged = StagedTable(self.state, merge=keep_mark)  # never drops a delivered-once mark landed meanwhile

    def kind_of(self, recipient_id: str) -> str | None:
        """A recipient's kind, or None when it is not in the directory."""
        r = self.directory.get(recipient_id)
        return r.kind if r else None

    async def delivered(self, referral: dict[str, Any], value: bytes, entry: dict[str, Any]) -> dict[str, Any]:
        """A just-delivered referral's `referral_state` entry with its lifecycle fields; DELIVERED to its agency."""
        kind = self.kind_of(referral["recipient_id"])
        at = int(entry["delivered_at"])
        await self.statuses.emit_for(
            referral["case"], "DELIVERED", at, kinds=[kind] if kind else [], step=entry_id(referral)
        )
        return {**entry, **lifecycle_fields(referral, value, kind, at)}

    async def apply(self, ack: dict[str, Any]) -> dict[str, Any] | None:
        """Apply one decoded Acknowledgement; its new state entry, or None when nothing changed.

        Raises (and so dead-letters) what the lifecycle refuses.
        """
        rid = ack["referral_id"]
        before = self.staged.get(rid)
        outcome = apply(before, ack, self.lifecycle, kind_of=self.kind_of)
        if not isinstance(outcome, Applied):
            metrics.count("notifier", "ack_unchanged")
            return None
        entry = outcome.entry
        self.staged.write_after_sends(rid, entry)
        ids = {"referral_id": rid, "case_id": entry["case_id"], "recipient_id": entry["recipient_id"]}
        latency = max(0, int(ack["acknowledged_at"]) - int(entry["delivered_at"]))
        await self.emit(
            {
                **receipt(ids, outcome.receipt["status"], channel=None, latency_ms=latency),
                **ack_clock(entry, int(ack["acknowledged_at"])),
                **outcome.receipt,
            }
        )
        if outcome.reroute is not None:
            await self._reroute(outcome.reroute)
        if entry.get("agency_id") and entry.get("report_id"):
            step = entry["history"][-1]
            record = status_record(
                entry["agency_id"],
                entry["report_id"],
                outcome.status_event,
                int(ack["acknowledged_at"]),
                case_id=entry["case_id"],
                kinds=[k for k in [entry.get("kind")] if k],
                step=rid,
                reason_code=step.get("reason_code"),
                outcome_code=step.get("outcome_code"),
            )
            await self.statuses.emit(record)
        summary.event(log, "referral action applied", case_id=entry["case_id"], referral_id=rid, state=entry["state"])
        metrics.count("notifier", f"lifecycle_{entry['state'].lower()}")
        return entry

    async def _reroute(self, request: dict[str, Any]) -> None:
        """Ask routing to send the case on, telling it who already holds it and which kinds are still covered."""
        case_id = request["case_id"]
        others = [
            self.staged.get(k) for k, e in list(self.state.items()) if e is not None and e.get("case_id") == case_id
        ]
        excluded, active = case_view(
            [*others, {"recipient_id": request["recipient_id"], "status": "REJECTED"}], self.lifecycle, self.kind_of
        )
        record = {**request, "excluded": excluded, "active_kinds": active}
        value = self.service.codec.encode("RerouteRequest", record)
        await self.service.send(self.reroute_topic, case_id.encode(), value)
        log.info(
            "case sent back to routing", case_id=case_id, referral_id=request["referral_id"], why=request["action"]
        )
