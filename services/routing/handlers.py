"""Routing's handler: one case → the decision `RuleSet.decide` gives → the decision event and referrals."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import faust

from referral_bus import logging as rb_logging
from referral_bus import metrics, summary
from referral_bus.casekeys import CaseKeys
from referral_bus.clock import now_ms
from referral_bus.errors import SafeguardRefusedError
from referral_bus.lanes import LaneTopics
from referral_bus.message import SourceMessage
from referral_bus.shell import Service
from referral_bus.staged import StagedTable
from referral_bus.status import StatusTopics
from referral_bus.tracing import stage
from referral_domain.safeguards import Facts, Gate, Safeguards
from services.routing.decisions import decision_record, referral_id_for, referral_records
from services.routing.gating import apply_gate
from services.routing.linked import CaseState, add_holders, plan
from services.routing.reloader import RuleReloader
from services.routing.rules import CaseView

log = rb_logging.get_logger()


@dataclass
class RoutingHandler:
    """The cases topic's handler, built once by app.py."""

    service: Service
    rules: RuleReloader
    safeguards: Safeguards
    decisions_topic: faust.TopicT
    referrals: LaneTopics  # one topic per priority lane: each referral goes to its priority's
    statuses: StatusTopics | None = None  # the reporting agency's status topic (docs/lifecycle.md)
    keys: CaseKeys | None = None  # opens sealed personal fields for the rules (the referrals stay sealed)
    routed: MutableMapping[str, Any] = field(default_factory=dict)  # case id → CaseState JSON (linked.py)

    def __post_init__(self) -> None:
        self.state = StagedTable(self.routed)

    async def case(self, msg: SourceMessage) -> None:
        """Decide who gets one case or linked report; emit the decision and one referral per recipient."""
        service = self.service
        case = service.codec.decode(msg.value or b"", "Case")
        with stage("routing decide", case_id=case["case_id"]) as span:
            ruleset = self.rules.current
            opened = await self.keys.open_case(case) if self.keys is not None else case
            decision = ruleset.decide(CaseView.from_case(opened))
            facts, gate = Facts.from_case(case), Gate(self.safeguards, ruleset.directory)
            apply_gate(decision, facts, gate)
            raw = self.state.get(case["case_id"])
            state = None if raw is None else CaseState.from_json(raw)
            add_holders(decision, case, state, facts, gate)  # a linked report: the case's holders, gated too
            routed = plan(decision, case, state, referral_id_for)
            span.set_attribute("referral_bus.rule_ids", decision.matched_rules)
            span.set_attribute("referral_bus.recipient_ids", [c.recipient.id for c in decision.recipients])
        now = now_ms()
        record = decision_record(decision, now_ms=now, held_for=case["report"].get("agency_id"), plan=routed)
        key = case["case_id"].encode()
        await service.send(self.decisions_topic, key, service.codec.encode("RoutingDecision", record))
        body = service.codec.current_body(msg.value or b"", "Case")  # each referral embeds these bytes, not re-encoded
        for referral in referral_records(decision, record, case, now_ms=now, plan=routed):
            await self.referrals.send(referral, case_body=body)
        if self.statuses is not None:  # which KINDS it went to (never who), or held for the agency
            kinds = [c.recipient.kind for c in decision.recipients]
            await self.statuses.emit_for(case, "ROUTED" if kinds else "HELD", now, kinds=kinds)
        self.state.write_after_sends(case["case_id"], routed.state.to_json())  # who holds the case, once sent
        for path, why in decision.refused:
            metrics.safeguard_refusal("routing", why.safeguard_id, path)
            # a refused escalation target is replaced or dropped (the referral goes); a refused holder of a
            # linked report's case simply gets no update: neither is an error to dead-letter
            if path not in ("escalation", "holder"):
                await service.dead_letter(msg, SafeguardRefusedError(f"{path}: {why}"), case_id=case["case_id"])
        summary.event(
            log,
            "case routed",
            case_id=case["case_id"],
            rules=",".join(decision.matched_rules),
            recipients=",".join(c.recipient.id for c in decision.recipients),
            priority=decision.priority,
            unmatched=decision.unmatched,
            held=not decision.recipients,
            refused=len(decision.refused),
            linked=routed.linked is not None,
            updated=",".join(routed.updated),
            raised_from=routed.raised_from,
        )
        if routed.linked is not None:
            metrics.count("routing", "linked")
        outcome = "held" if not decision.recipients else "unmatched" if decision.unmatched else "routed"
        metrics.count("routing", outcome)
