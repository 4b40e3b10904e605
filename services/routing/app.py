"""Routing worker: `faust -A services.routing.app worker`.

The Faust shell only: settings, the app, its topics, the agent and the rules' reload timer. What one
case does is in handlers.py; the decisions are pure: rules.py (`RuleSet.decide`), decisions.py.
"""

from __future__ import annotations

import sys

from referral_bus import logging as rb_logging
from referral_bus import safeguards as rb_safeguards
from referral_bus import topics
from referral_bus.errors import RulesError
from referral_bus.settings import RoutingSettings
from referral_bus.shell import Service
from services.routing.handlers import RoutingHandler
from services.routing.reloader import RuleReloader

settings = RoutingSettings()
service = Service("routing", settings)
app = service.app

try:
    rules = RuleReloader(settings.directory_path, settings.rules_path)
except RulesError as exc:
    sys.stderr.write("routing: cannot start, the rules do not load:\n  " + "\n  ".join(exc.problems) + "\n")
    raise SystemExit(78) from None

try:
    safeguards = rb_safeguards.from_settings()
except RulesError as exc:
    sys.stderr.write("routing: cannot start, the safeguards do not load:\n  " + "\n  ".join(exc.problems) + "\n")
    raise SystemExit(78) from None
if safeguards.dev_insecure_transport:
    rb_logging.get_logger().warning(rb_safeguards.DEV_WARNING)

cases_topic = service.topic(topics.CASES)
# case id → who holds the case (recipient → referral id), its priority and SLA: linked reports (linked.py).
routed = service.table("routed")
handler = RoutingHandler(
    service=service,
    rules=rules,
    safeguards=safeguards,
    decisions_topic=service.topic(topics.DECISIONS),
    referrals_topic=service.topic(topics.REFERRALS),
    routed=routed,
)


@app.agent(cases_topic)
async def routing_agent(stream):  # type: ignore[no-untyped-def]  # Faust agents take an untyped stream
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handler.case)


@app.timer(interval=settings.reload_interval_seconds)  # type: ignore[untyped-decorator]  # Faust's timer is untyped
async def reload_rules() -> None:
    """Hot reload; an invalid new file leaves the last good rules in force."""
    rules.maybe_reload()


service.add_readiness(lambda: None if rules.current else "rules not loaded")
