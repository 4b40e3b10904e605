"""Routing's handler for re-route requests: one RerouteRequest → the plan reroute.py gives → sends.

The new referral goes to the referrals lane of its priority like any other (the notifier gates, redacts and delivers
it); a receipt on referrals.receipts.v1 and a status event for the reporting agency say what happened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import faust

from referral_bus import logging as rb_logging
from referral_bus import metrics
from referral_bus.clock import now_ms
from referral_bus.lanes import LaneTopics
from referral_bus.message import SourceMessage
from referral_bus.shell import Service
from referral_bus.status import StatusTopics
from referral_domain.lifecycle import Lifecycle
from referral_domain.safeguards import Gate, Safeguards
from services.routing.reloader import RuleReloader
from services.routing.reroute import NotSentOn, Rerouted, Uncovered, plan

log = rb_logging.get_logger()


def _receipt(referral_id: str, case_id: str, recipient_id: str, status: str, at: int, **fields: Any) -> dict[str, Any]:
    """A DeliveryReceipt written by routing (REROUTED, TRANSFERRED, UNCOVERED)."""
    return {
        "receipt_id": str(uuid.uuid4()),
        "referral_id": referral_id,
        "case_id": case_id,
        "recipient_id": recipient_id,
        "status": status,
        "at": at,
        "channel": None,
        "attempt": 0,
        "latency_ms": None,
        **fields,
    }


@dataclass
class RerouteHandler:
    """The reroute topic's handler, built once by app.py."""

    service: Service
    rules: RuleReloader
    safeguards: Safeguards
    lifecycle: Lifecycle
    referrals: LaneTopics  # the new referral goes to its priority's lane
    receipts_topic: faust.TopicT
    statuses: StatusTopics

    async def request(self, msg: SourceMessage) -> None:
        """Send the case on to the next permitted recipient, or alert the duty desk, or say nobody is left."""
        codec = self.service.codec
        req = codec.decode(msg.value or b"", "RerouteRequest")
        original = codec.decode(req["referral"], "Referral")
        gate = Gate(self.safeguards, self.rules.current.directory)
        now = now_ms()
        out = plan(req, original, gate, self.lifecycle, now_ms=now)
        for why in out.refused:
            metrics.safeguard_refusal("routing", why.safeguard_id, "reroute")
        case_id, old = req["case_id"], req["referral_id"]
        if isinstance(out, Rerouted):
            new = out.referral
            await self.referrals.send(new)
            event = "TRANSFERRED" if out.transferred else "REROUTED"
            detail = f"{event.lower()} from {req['recipient_id']} ({req.get('reason_code') or 'no reason code'})"
            rec = _receipt(
                new["referral_id"],
                case_id,
                new["recipient_id"],
                event,
                now,
                detail=detail,
                lifecycle_state="REQUESTED",
                reason_code=req.get("reason_code"),
                related_referral_id=old,
            )
            await self._receipt(rec)
            await self.statuses.emit_for(original["case"], event, now, kinds=[out.kind], step=new["referral_id"])
            log.info("case sent on", case_id=case_id, referral_id=new["referral_id"], recipient=new["recipient_id"])
            metrics.count("routing", event.lower())
            return
        if isinstance(out, Uncovered):
            if out.alert is not None:
                await self.referrals.send(out.alert)
            desk = out.alert["recipient_id"] if out.alert else None
            detail = f"no permitted recipient of mandatory kind {out.kind} left; duty desk " + (
                f"{desk} alerted" if desk else "already holds the case or is refused"
            )
            rec = _receipt(old, case_id, req["recipient_id"], "UNCOVERED", now, detail=detail)
            await self._receipt(rec)
            await self.statuses.emit_for(original["case"], "UNCOVERED", now, kinds=[out.kind], step=old)
            metrics.uncovered(out.kind)
            log.warning("mandatory kind left uncovered", case_id=case_id, referral_id=old, kind=out.kind, alerted=desk)
            return
        assert isinstance(out, NotSentOn)
        log.info("declined case not sent on: nobody else permitted", case_id=case_id, referral_id=old, kind=out.kind)
        metrics.count("routing", "not_sent_on")

    async def _receipt(self, record: dict[str, Any]) -> None:
        value = self.service.codec.encode("DeliveryReceipt", record)
        await self.service.send(self.receipts_topic, record["case_id"].encode(), value)
