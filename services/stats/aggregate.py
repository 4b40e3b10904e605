"""Counting: cases, decisions, receipts and dead letters into per-week sets, one member per counted thing.

Pure logic over two mappings (Faust tables in the worker, dicts in tests and `stats rebuild`):
`members` (`week|partition|metric|cell|member` → 1, or the milliseconds for `ack_ms`) and `facts`
(per case: its week and province, and events that arrived before the case). A count is the number of
members, so applying an event twice (replay, restart, rebalance) writes the same keys again and counts
once: deduplication by case, report, referral or source position within the week. Every key written
while handling an event belongs to that event's partition, so the changelog partition is the right one.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from referral_bus.packed import unpacked
from services.stats.dimensions import UNKNOWN, Kinds, label, partner_countries, province_unit
from services.stats.weeks import week_of

ACK_MS = "ack_ms"  # per acknowledged referral: milliseconds from delivery to acknowledgement (not the SLA clock)
ACKED, ACKED_IN_SLA, ESCALATIONS, DECLINES, REFERRALS = "acked", "acked_in_sla", "escalations", "declines", "referrals"
REPORTS, CASES, LINKED, CROSS_BORDER = "reports", "cases", "linked", "cross_border"
DL_REASON, DL_AGENCY = "dl_reason", "dl_agency"
PACKED = frozenset({"pending"})  # held as JSON text in the `facts` table's memory (referral_bus/packed.py)
SLA_CLOCK = ("since_routing_ms", "ack_sla_seconds")  # DeliveryReceipt v4: the action timed from routing, its own SLA


def within_sla(receipt: dict[str, Any], decision_sla_ms: int | None) -> bool:
    """Whether an acknowledgement came within its referral's own SLA counted from routing (services/notifier/sla.py).

    Receipts older than v4 carry neither: then the delivery latency against the case's decision SLA, as before.
    """
    since, sla = receipt.get("since_routing_ms"), receipt.get("ack_sla_seconds")
    if since is not None and sla is not None:
        return bool(since <= sla * 1000)
    latency = receipt.get("latency_ms")
    return latency is not None and decision_sla_ms is not None and latency <= decision_sla_ms


class Aggregator:
    """Applies events to the counters; each case, report, decision and receipt counts once."""

    def __init__(
        self,
        members: MutableMapping[str, int],
        facts: MutableMapping[str, dict[str, Any]],
        kinds: Kinds,
        *,
        home_country: str = "VN",
    ) -> None:
        self.members, self.facts, self.kinds, self.home = members, facts, kinds, home_country

    def _add(self, week: str, partition: int, metric: str, cell: str, member: str, value: int = 1) -> None:
        """Count `member` once in `cell` of `metric` for `week` (idempotent)."""
        key = f"{week}|{partition}|{metric}|{cell}|{member}"
        if self.members.get(key) != value:
            self.members[key] = value

    def case(self, case: dict[str, Any], partition: int) -> None:
        """A Case event: a new case (report + case) or a linked report (report only)."""
        report = case["report"]
        week = week_of(report["reported_at"])
        prov = province_unit(report["victim"]["jurisdiction"])
        category = report["category"]
        report_key = f"{report['agency_id']}/{report['report_id']}"
        cell = "|".join(
            (
                category,
                prov,
                report["victim"]["age_band"],
                report["victim"].get("sex") or UNKNOWN,
                self.kinds.agency(report["agency_id"]),
                self.kinds.platform(report.get("platform")),
            )
        )
        self._add(week, partition, REPORTS, cell, report_key)
        if case["is_update"]:
            self._add(week, partition, LINKED, f"{category}|{prov}", report_key)
        else:
            self._add(week, partition, CASES, cell, case["case_id"])
            for country in partner_countries(report, self.home):
                self._add(week, partition, CROSS_BORDER, country, case["case_id"])
        if case["is_update"]:
            return
        known = self.facts.get(case["case_id"]) or {}
        if "week" in known:
            return
        fact = {**known, "week": week, "prov": prov}
        self.facts[case["case_id"]] = fact
        self._drain(case["case_id"], fact, partition)

    def decision(self, decision: dict[str, Any], partition: int) -> None:
        """A RoutingDecision: one referral per chosen recipient, counted under the case's week and province."""
        slim = {
            "sla_ms": decision["ack_sla_seconds"] * 1000,
            "recipients": [r["recipient_id"] for r in decision["recipients"]],
        }
        self._later(decision["case_id"], "decision", slim, partition)

    def receipt(self, receipt: dict[str, Any], partition: int) -> None:
        """A DeliveryReceipt: acknowledgements (time, within SLA), escalations and declines.

        Every other status (delivery progress, REFUSED by the safeguards, a symbol newer than this code
        read as UNKNOWN) is not a published figure and is skipped.
        """
        if receipt["status"] not in ("ACKNOWLEDGED", "ESCALATED", "REJECTED"):
            return
        slim = {k: receipt[k] for k in ("status", "referral_id", "recipient_id", "latency_ms", "attempt")}
        slim.update({k: receipt[k] for k in SLA_CLOCK if receipt.get(k) is not None})
        self._later(receipt["case_id"], "receipt", slim, partition)

    def dead_letter(self, letter: dict[str, Any], partition: int) -> None:
        """A DeadLetter: counted by reason and by the sending agency (from the intake key), once per source."""
        week = week_of(letter["failed_at"])
        where = f"{letter['stage']}:{letter['source_topic']}:{letter['source_partition']}:{letter['source_offset']}"
        self._add(week, partition, DL_REASON, label(letter["reason"]), where)
        self._add(week, partition, DL_AGENCY, self.kinds.agency_label(agency_of(letter)), where)

    def _later(self, case_id: str, kind: str, slim: dict[str, Any], partition: int) -> None:
        """Keep an event until its case (and, for receipts, its decision) is known, then apply it."""
        fact = dict(self.facts.get(case_id) or {})
        fact["pending"] = [*(unpacked(fact, "pending") or []), [kind, slim]]
        self.facts[case_id] = fact
        if "week" in fact:
            self._drain(case_id, fact, partition)

    def _drain(self, case_id: str, fact: dict[str, Any], partition: int) -> None:
        """Apply the pending events that can now be applied; the rest stay pending."""
        pending = list(unpacked(fact, "pending") or [])
        kept = []
        for kind, slim in sorted(pending, key=lambda item: item[0] != "decision"):  # decisions first
            if kind == "decision":
                self._apply_decision(case_id, fact, slim, partition)
                fact["sla_ms"] = slim["sla_ms"]
            elif "sla_ms" in fact or all(k in slim for k in SLA_CLOCK):
                self._apply_receipt(fact, slim, partition)
            else:
                kept.append([kind, slim])
        self.facts[case_id] = {**fact, "pending": kept}

    def _apply_decision(self, case_id: str, fact: dict[str, Any], slim: dict[str, Any], partition: int) -> None:
        week, prov = fact["week"], fact["prov"]
        for rid in slim["recipients"]:
            self._add(week, partition, REFERRALS, f"{self.kinds.recipient(rid)}|{prov}", f"{case_id}:{rid}")

    def _apply_receipt(self, fact: dict[str, Any], slim: dict[str, Any], partition: int) -> None:
        week, prov = fact["week"], fact["prov"]
        cell = f"{self.kinds.recipient(slim['recipient_id'])}|{prov}"
        status, rid = slim["status"], slim["referral_id"]
        if status == "ACKNOWLEDGED":
            self._add(week, partition, ACKED, cell, rid)
            latency = slim["latency_ms"]
            if latency is not None:
                self._add(week, partition, ACK_MS, cell, rid, int(latency))
            if within_sla(slim, fact.get("sla_ms")):
                self._add(week, partition, ACKED_IN_SLA, cell, rid)
        elif status == "ESCALATED":
            self._add(week, partition, ESCALATIONS, cell, f"{rid}:{slim['attempt']}")
        elif status == "REJECTED":
            self._add(week, partition, DECLINES, cell, rid)


# An agency's own intake topic (`[<namespace>.]referrals.intake.<agency id>.v1`): the broker proved who wrote it.
AGENCY_TOPIC = re.compile(r"(?:^|\.)referrals\.intake\.([a-z0-9][a-z0-9-]*)\.v1$")
INTERNAL_INTAKE = re.compile(r"(?:^|\.)referrals\.intake\.v1$")


def agency_of(letter: dict[str, Any]) -> str:
    """The sending agency of an intake dead letter, else UNKNOWN.

    From an agency's own intake topic: that agency (whatever the report claims, e.g. `agency_mismatch`);
    from the internal intake topic: the `agency_id/report_id` key.
    """
    if letter["stage"] != "intake":
        return UNKNOWN
    own = AGENCY_TOPIC.search(letter["source_topic"])
    if own is not None:
        return own.group(1)
    key = letter.get("original_key")
    if not INTERNAL_INTAKE.search(letter["source_topic"]) or not isinstance(key, bytes) or b"/" not in key:
        return UNKNOWN
    return label(key.split(b"/", 1)[0].decode("utf-8", "replace"))
