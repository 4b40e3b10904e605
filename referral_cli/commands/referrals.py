"""`referral-bus referrals pending`: what awaits someone, P1 first.

Delivered referrals nobody has acknowledged yet, referrals the safeguards gate refused (REFUSED), and
cases held for the reporting agency's follow-up with no referral (HELD, e.g. an adult who did not
consent to any service).
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
from referral_bus.kafka import read_to_end
from referral_bus.settings import KafkaSettings

CLOSED = frozenset({"ACKNOWLEDGED", "REJECTED", "COMPLETED", "REVOKED", "TRANSFERRED", "CANCELLED"})
PRIORITY_ORDER = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}


@dataclass
class Pending:
    """One delivered, unacknowledged referral."""

    referral_id: str
    case_id: str
    recipient_id: str
    priority: str
    delivered_at: int
    ack_sla_seconds: int | None
    escalations: int
    state: str = "AWAITING_ACK"
    detail: str | None = None

    @property
    def overdue(self) -> bool:
        """True when its SLA has passed."""
        return self.ack_sla_seconds is not None and time.time() * 1000 > self.delivered_at + self.ack_sla_seconds * 1000


async def read_all(topic: str, kafka: KafkaSettings, timeout: float = 30.0) -> list[Any]:
    """Every record of `topic` up to its current end (what was read by then, after `timeout`)."""
    return await read_to_end(kafka, topic, timeout=timeout, partial=True)


def pending(
    receipts: list[dict[str, Any]],
    referrals: dict[str, dict[str, Any]],
    decisions: list[dict[str, Any]] | None = None,
) -> list[Pending]:
    """Delivered but unacknowledged, refused and held referrals, P1 first, then oldest first."""
    out: dict[str, Pending] = {}
    closed: set[str] = set()
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
            out[rid] = Pending(
                rid, r["case_id"], r["recipient_id"], ref.get("priority", "?"), r["at"], ref.get("ack_sla_seconds"), 0
            )
        elif r["status"] == "ESCALATED" and rid in out:
            out[rid].escalations += 1
    rows = [p for rid, p in out.items() if rid not in closed]
    return sorted(rows, key=lambda p: (PRIORITY_ORDER.get(p.priority, 9), p.delivered_at))


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
    """Read the receipts and referrals topics and compute what is pending."""
    codec = Codec()
    receipts_raw, referrals_raw, decisions_raw = await asyncio.gather(
        read_all(topics.name(topics.RECEIPTS), kafka),
        read_all(topics.name(topics.REFERRALS), kafka),
        read_all(topics.name(topics.DECISIONS), kafka),
    )
    decisions = _decoded(codec, decisions_raw, "RoutingDecision")
    receipts = _decoded(codec, receipts_raw, "DeliveryReceipt")
    referrals = {
        ref["referral_id"]: {"priority": ref["priority"], "ack_sla_seconds": ref["ack_sla_seconds"]}
        for ref in _decoded(codec, referrals_raw, "Referral")
    }
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
        print("no referrals awaiting acknowledgement")
        return 0
    header = ("priority", "state", "referral", "case", "recipient", "age", "sla", "escalations")
    table = [
        (
            p.priority,
            p.state,
            p.referral_id,
            p.case_id,
            p.recipient_id,
            _age(p.delivered_at),
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
        if p.detail and p.state != "AWAITING_ACK":
            print(f"  {p.referral_id}: {p.detail}")
    held = sum(p.state == "HELD" for p in rows)
    refused = sum(p.state == "REFUSED" for p in rows)
    print(
        f"{len(rows) - held - refused} referral(s) awaiting acknowledgement, {sum(p.overdue for p in rows)} overdue, "
        f"{refused} refused by the safeguards, {held} case(s) held for the reporting agency"
    )
    return 0


def register(sub: Any) -> None:
    """Add the `referrals` command group."""
    p = sub.add_parser("referrals", help="referral lifecycle: what is awaiting acknowledgement")
    group = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    pend = group.add_parser("pending", help="unacknowledged, refused and held referrals, P1 first")
    pend.add_argument("--json", action="store_true", help="machine-readable output")
    pend.set_defaults(func=_run)
