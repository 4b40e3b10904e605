"""Routing worker: `faust -A services.routing.app worker`.

The Faust shell only: settings, the app, its topics, the agent and the rules' reload timer. What one
case does is in handlers.py; the decisions are pure: rules.py (`RuleSet.decide`), decisions.py.
"""

from __future__ import annotations

from referral_bus import logging as rb_logging
from referral_bus import metrics, topics
from referral_bus.expiry import Expiry
from referral_bus.lanes import LaneTopics
from referral_bus.shell import Service, load_or_exit
from referral_bus.status import StatusTopics
from referral_domain import lifecycle as rb_lifecycle
from referral_domain import safeguards as rb_safeguards
from referral_domain.agencies import load_agencies
from services.routing.handlers import RoutingHandler
from services.routing.linked import PACKED
from services.routing.reloader import RuleReloader
from services.routing.rerouting import RerouteHandler
from services.routing.settings import RoutingSettings

settings = RoutingSettings()
service = Service("routing", settings, encodes=("RoutingDecision", "Referral", "DeliveryReceipt", "ReportStatus"))
app = service.app

rules = load_or_exit(
    "routing", "the rules", lambda: RuleReloader(settings.directory_path, settings.rules_path, settings.profiles_path)
)
safeguards = load_or_exit("routing", "the safeguards", rb_safeguards.from_settings)
if safeguards.dev_insecure_transport:
    rb_logging.get_logger().warning(rb_safeguards.DEV_WARNING)

cases_topic = service.topic(topics.CASES)
statuses = StatusTopics(service, load_agencies(settings.agencies_path))
# case id → who holds the case (recipient → referral id), its priority and SLA: linked reports (linked.py).
# Bounded (ROUTING_LINKED_WINDOW_HOURS after the case's last report): it held every case ever routed.
routed = service.table("routed", expiry=Expiry(int(settings.linked_window_hours * 3_600_000)), packed=PACKED)
handler = RoutingHandler(
    service=service,
    rules=rules,
    safeguards=safeguards,
    decisions_topic=service.topic(topics.DECISIONS),
    referrals=LaneTopics(service),  # one topic per priority lane (topic_catalog.LANES)
    statuses=statuses,
    keys=service.case_keys(),
    routed=routed,
)


# the referral lifecycle: re-routing declined and transferred referrals (docs/lifecycle.md)
_lifecycle = load_or_exit("routing", "the lifecycle", rb_lifecycle.from_settings)
metrics.init_uncovered(sorted({k for rule in safeguards.policy.always for k in rule.kinds}))
reroute_handler = RerouteHandler(
    service=service,
    rules=rules,
    safeguards=safeguards,
    lifecycle=_lifecycle,
    referrals=handler.referrals,
    receipts_topic=service.topic(topics.RECEIPTS),
    statuses=statuses,
)

# Hands every event to its handler through run_guarded (dead-letters any failure).
reroute_agent = service.agent(service.topic(topics.REROUTE), reroute_handler.request, name=f"{__name__}.reroute_agent")
routing_agent = service.agent(cases_topic, handler.case, name=f"{__name__}.routing_agent", expire=(routed,))


@app.timer(interval=settings.reload_interval_seconds)  # type: ignore[untyped-decorator]  # Faust's timer is untyped
async def reload_rules() -> None:
    """Hot reload; an invalid new file leaves the last good rules in force."""
    rules.maybe_reload()


service.add_readiness(lambda: None if rules.current else "rules not loaded")
