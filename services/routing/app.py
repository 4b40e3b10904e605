"""Routing worker: `faust -A services.routing.app worker`."""

from __future__ import annotations

import sys

from referral_bus import logging as rb_logging
from referral_bus import metrics, topics
from referral_bus.deadletter import SourceMessage, now_ms
from referral_bus.errors import RulesError
from referral_bus.settings import RoutingSettings
from referral_bus.tracing import stage_span
from referral_bus.worker import Service
from services.routing.decisions import decision_record, referral_records
from services.routing.reloader import RuleReloader
from services.routing.rules import CaseView

settings = RoutingSettings()
service = Service("routing", settings)
app = service.app
log = rb_logging.get_logger()

try:
    rules = RuleReloader(settings.directory_path, settings.rules_path)
except RulesError as exc:
    sys.stderr.write("routing: cannot start, the rules do not load:\n  " + "\n  ".join(exc.problems) + "\n")
    raise SystemExit(78) from None

cases_topic = service.topic(topics.CASES)
decisions_topic = service.topic(topics.DECISIONS)
referrals_topic = service.topic(topics.REFERRALS)


async def handle(msg: SourceMessage) -> None:
    """Decide who gets one case; emit the decision and one referral per recipient."""
    case = service.codec.decode(msg.value or b"", "Case")
    if case["is_update"]:  # another agency's report of content already routed: no second referral
        log.info("linked report", case_id=case["case_id"], linked=len(case["linked_reports"]))
        metrics.count("routing", "linked")
        return
    with stage_span("routing decide", **{"referral_bus.case_id": case["case_id"]}) as span:
        decision = rules.current.decide(CaseView.from_case(case))
        span.set_attribute("referral_bus.rule_ids", decision.matched_rules)
        span.set_attribute("referral_bus.recipient_ids", [c.recipient.id for c in decision.recipients])
    now = now_ms()
    record = decision_record(decision, now_ms=now)
    key = case["case_id"].encode()
    await service.send(decisions_topic, key, service.codec.encode("RoutingDecision", record))
    for referral in referral_records(decision, record, case, now_ms=now):
        await service.send(referrals_topic, key, service.codec.encode("Referral", referral))
    log.info(
        "case routed",
        case_id=case["case_id"],
        rules=",".join(decision.matched_rules),
        recipients=",".join(c.recipient.id for c in decision.recipients),
        priority=decision.priority,
        unmatched=decision.unmatched,
    )
    metrics.count("routing", "unmatched" if decision.unmatched else "routed")


@app.agent(cases_topic)
async def routing_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handle)


@app.timer(interval=settings.reload_interval_seconds)  # type: ignore[untyped-decorator]
async def reload_rules() -> None:
    """Hot reload; an invalid new file leaves the last good rules in force."""
    rules.maybe_reload()


service.add_readiness(lambda: None if rules.current else "rules not loaded")
