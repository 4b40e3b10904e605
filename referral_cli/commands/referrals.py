"""`referral-bus referrals pending`: what awaits someone, P1 first.

Referrals not delivered yet (NOT_DELIVERED: still being retried, held by the recipient's breaker, or
given up and dead-lettered), delivered referrals nobody has acknowledged yet (AWAITING_ACK), referrals
the safeguards gate refused (REFUSED), and cases held for the reporting agency's follow-up with no
referral (HELD, e.g. an adult who did not consent to any service). The SLA counts from routing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.errors import ReferralBusError
from referral_bus.settings import KafkaSettings
from referral_bus.topic_catalog import lane_topics
from referral_cli.commands import add, arg, group
from referral_devstack.reading import read_to_end

CLOSED = frozenset({"ACKNOWLEDGED", "REJECTED", "COMPLETED", "REVOKED", "TRANSFERRED", "CANCELLED"})
PRIORITY_ORDER = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}
NOT_DELIVERED, AWAITING_ACK = "NOT_DELIVERED", "AWAITING_ACK"
IN_WORDS = {NOT_DELIVERED: "not delivered", AWAITING_ACK: "not acknowledged", "REFUSED": "refused", "HELD": "held"}


@dataclass
class Pending:
    """One pending referral (or held case): `delivered_at` is when it reached this state, `routed_at` when routed."""

    referral_id: str
    case_id: str
    recipient_id: str
    priority: str
    delivered_at: int
    ack_sla_seconds: int | None
    escalations: int
    state: str = AWAITING_ACK
    detail: str | None = None
    routed_at: int | None = None

    @property
    def since(self) -> int:
        """Where its SLA clock started: routing when known, else when it reached this state."""
        return self.routed_at if self.routed_at is not None else self.delivered_at

    @property
    def overdue(self) -> bool:
        """True when its SLA, counted from routing, has passed."""
        return self.ack_sla_seconds is not None and time.time() * 1000 > self.since + self.ack_sla_seconds * 1000


async def read_all(topic: str, kafka: KafkaSettings, timeout: float = 30.0) -> list[Any]:
    """Every record of `topic` up to its current end (what was read by then, after `timeout`)."""
    return await read_to_end(kafka, topic, timeout=timeout, partial=True)


def pending(
    receipts: list[dict[str, Any]],
    referrals: dict[str, dict[str, Any]],
    decisions: list[dict[str, Any]] | None = None,
) -> list[Pending]:
    """Not delivered, delivered but unacknowledged, refused and held referrals, P1 first, then oldest first.

    `referrals` are the routed referrals by id (priority, SLA and, to list undelivered ones, case_id,
    recipient_id and created_at).
    """
    out: dict[str, Pending] = {}
    closed: set[str] = set()
    escalations: dict[str, int] = {}
    last_detail: dict[str, str | None] = {}
    for d in decisions or ():
        if d.get("held"):
            who = d.get("held_for") or "reporting agency"
            out[d["decision_id"]] = Pending(
                d["decision_id"],
                d["case_id"],
                who,
                d["priority"],
                d["decided_at"],
                None,
                0,
                "HELD",
                "no referral: held for the reporting agency's follow-up",
            )
    for r in receipts:
        rid = r["referral_id"]
        if r["status"] in CLOSED:
            closed.add(rid)
        elif r["status"] == "REFUSED" and rid not in out:
            ref = referrals.get(rid, {})
            out[rid] = Pending(
                rid, r["case_id"], r["recipient_id"], ref.get("priority", "?"), r["at"], None, 0, "REFUSED", r["detail"]
            )
        elif r["status"] == "DELIVERED" and rid not in out:
            ref = referrals.get(rid, {})
            sla, routed = ref.get("ack_sla_seconds"), ref.get("created_at")
            out[rid] = Pending(
                rid, r["case_id"], r["recipient_id"], ref.get("priority", "?"), r["at"], sla, 0, routed_at=routed
            )
        elif r["status"] == "ESCALATED":
            escalations[rid] = escalations.get(rid, 0) + 1
        elif r["status"] in {"FAILED", "QUEUED", "PAUSED"}:
            last_detail[rid] = r.get("detail")
    for rid, ref in referrals.items():
        if rid in out or rid in closed or ref.get("created_at") is None:
            continue
        out[rid] = Pending(
            rid,
            ref["case_id"],
            ref["recipient_id"],
            ref["priority"],
            ref["created_at"],
            ref.get("ack_sla_seconds"),
            0,
            NOT_DELIVERED,
            last_detail.get(rid) or "not attempted yet",
            routed_at=ref["created_at"],
        )
    rows = [p for rid, p in out.items() if rid not in closed]
    for p in rows:
        p.escalations = escalations.get(p.referral_id, 0)
    return sorted(rows, key=lambda p: (PRIORITY_ORDER.get(p.priority, 9), p.since))


def _decoded(codec: Codec, records: list[Any], contract: str) -> list[dict[str, Any]]:
    """The records' values that decode as `contract`, in topic order; any that does not is passed over."""
    out: list[dict[str, Any]] = []
    for rec in records:
        try:
            out.append(codec.decode(rec.value, contract))
        except ReferralBusError:
            continue
    return out


async def collect(kafka: KafkaSettings) -> list[Pending]:
    """Read the receipts and every lane's referrals topic and compute what is pending."""
    codec = Codec()
    receipts_raw, decisions_raw, *lanes_raw = await asyncio.gather(
        read_all(topics.name(topics.RECEIPTS), kafka),
        read_all(topics.name(topics.DECISIONS), kafka),
        *(read_all(topics.name(t), kafka) for t in lane_topics()),
    )
    referrals_raw = [rec for lane in lanes_raw for rec in lane]
    decisions = _decoded(codec, decisions_raw, "RoutingDecision")
    receipts = _decoded(codec, receipts_raw, "DeliveryReceipt")
    keep = ("case_id", "recipient_id", "priority", "ack_sla_seconds", "created_at")
    referrals = {ref["referral_id"]: {k: ref[k] for k in keep} for ref in _decoded(codec, referrals_raw, "Referral")}
    return pending(receipts, referrals, decisions)


def _age(ms: int) -> str:
    seconds = max(0, int(time.time() - ms / 1000))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _run(args: argparse.Namespace) -> int:
    rows = asyncio.run(collect(KafkaSettings()))
    if args.json:
        print(json.dumps([{**asdict(p), "overdue": p.overdue} for p in rows], indent=2))
        return 0
    if not rows:
        print("no referrals awaiting delivery or acknowledgement")
        return 0
    header = ("priority", "state", "referral", "case", "recipient", "age", "sla", "escalations")
    table = [
        (
            p.priority,
            IN_WORDS.get(p.state, p.state),
            p.referral_id,
            p.case_id,
            p.recipient_id,
            _age(p.since),
            ("OVERDUE " if p.overdue else "") + (f"{p.ack_sla_seconds}s" if p.ack_sla_seconds is not None else "?"),
            str(p.escalations),
        )
        for p in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for p in rows:
        if p.detail and p.state != AWAITING_ACK:
            print(f"  {p.referral_id}: {p.detail}")
    count = {state: sum(p.state == state for p in rows) for state in IN_WORDS}
    print(
        f"{count[NOT_DELIVERED]} referral(s) not delivered, {count[AWAITING_ACK]} delivered and not acknowledged, "
        f"{sum(p.overdue for p in rows)} overdue (SLA from routing), {count['REFUSED']} refused by the safeguards, "
        f"{count['HELD']} case(s) held for the reporting agency"
    )
    return 0


def register(sub: Any) -> None:
    """Add the `referrals` command group."""
    actions = group(sub, "referrals", "referral lifecycle: what is awaiting acknowledgement")
    json_output = arg("--json", action="store_true", help="machine-readable output")
    add(actions, "pending", _run, "not delivered, not acknowledged, refused and held referrals, P1 first", json_output)
