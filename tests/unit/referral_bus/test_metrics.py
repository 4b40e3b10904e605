"""Metrics: the instruments' Prometheus names, and /metrics, /healthz, /readyz of a real running worker."""

from __future__ import annotations

import os
import subprocess
import sys

from referral_bus.settings import REPO_ROOT


def test_instruments_expose_their_prometheus_names() -> None:
    code = """
from referral_bus import metrics
metrics.configure("probe")
metrics.event_in("intake"); metrics.event_out("intake", "referrals.cases.v1")
metrics.dead_lettered("intake", "undecodable"); metrics.stage_latency("intake", "ok", 3.0)
metrics.delivery("webhook", "delivered", latency_ms=40); metrics.sla_breach("vn-police-hn", "P1")
metrics.register_lag_source(lambda: [("referrals.intake.v1", 0, 5)])
print(metrics.exposition()[0].decode())
"""
    env = {k: v for k, v in os.environ.items() if k != "REFERRAL_BUS_NAMESPACE"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    ).stdout
    for name in (
        'referral_bus_events_in_total{otel_scope_name="referral_bus",otel_scope_schema_url="",'
        'otel_scope_version="",stage="intake"} 1.0',
        "referral_bus_events_out_total{",
        'reason="undecodable"',
        "referral_bus_stage_latency_milliseconds_count{",
        'referral_bus_delivery_attempts_total{channel="webhook"',
        "referral_bus_delivery_latency_milliseconds_sum{",
        'recipient_id="vn-police-hn"} 1.0',
        'partition="0",topic="referrals.intake.v1"} 5.0',
    ):
        assert name in out, name


def test_the_new_gauges_expose_their_prometheus_names_and_labels() -> None:
    code = """
from referral_bus import metrics
from services.notifier.gauges import BREAKERS, PENDING
from services.notifier.pending import BreakerRow, PendingRow
metrics.configure("probe")
metrics.register_gauges(lambda: [PendingRow("P1", "unacknowledged", 3, 1, 960.0)], ("priority", "state"), PENDING)
metrics.register_gauges(lambda: [BreakerRow("vn-police-hn", True, 120.0)], ("recipient_id",), BREAKERS)
metrics.register_lag_source(lambda: [("referrals.cases.v1", 2, 7)], group="referral-bus-routing")
metrics.init_dead_letters("notifier")  # every reason imported by then: the kernel's, the notifier's own
metrics.init_sla_breaches(["vn-police-hn"], ["P1", "P2"])
print(metrics.exposition()[0].decode())
"""
    env = {k: v for k, v in os.environ.items() if k != "REFERRAL_BUS_NAMESPACE"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr
    for sample in (
        ("referral_bus_pending_referrals{", 'priority="P1"', 'state="unacknowledged"', "} 3.0"),
        ("referral_bus_pending_referrals_overdue{", 'priority="P1"', "} 1.0"),
        ("referral_bus_pending_referral_oldest_age_seconds{", "} 960.0"),
        ("referral_bus_breaker_open{", 'recipient_id="vn-police-hn"', "} 1.0"),
        ("referral_bus_breaker_open_duration_seconds{", 'recipient_id="vn-police-hn"', "} 120.0"),
        ("referral_bus_consumer_lag{", 'group="referral-bus-routing"', 'partition="2"', "} 7.0"),
        ("referral_bus_dead_letters_total{", 'reason="invalid_field"', 'stage="notifier"', "} 0.0"),
        ("referral_bus_dead_letters_total{", 'reason="delivery_failed"', 'stage="notifier"', "} 0.0"),
        ("referral_bus_sla_breaches_total{", 'priority="P2"', 'recipient_id="vn-police-hn"', "} 0.0"),
    ):
        assert any(all(part in line for part in sample) for line in out.splitlines()), (sample, out)
