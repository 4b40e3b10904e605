"""Alerts and dashboards as code: the PrometheusRule passes `promtool check rules` and `promtool test rules`,
each alert has a test case and a runbook that exists, and the rules and the Grafana dashboard use only
metric names the code exports (plus kube-state-metrics' for restarts).

promtool is built from the Go module proxy by scripts/promtool/install.sh into .local/bin (`make
promtool`, which `make test` runs first). Without it the promtool tests skip with that instruction,
except under CI (`CI` set), where a missing promtool is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.settings import SuiteSettings

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "k8s" / "components" / "monitoring"
RULE_FILE = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "dashboards" / "referral-bus.json"
RULE_TESTS = Path(__file__).with_name("alerts.test.yaml")
PROMTOOL = ROOT / ".local" / "bin" / "promtool"
RUNBOOKS = ROOT / "docs" / "runbooks"
# Metrics the rules may use that another exporter provides (kube-state-metrics: container restarts).
KUBE_STATE_METRICS = {"kube_pod_container_status_last_terminated_exitcode", "kube_pod_container_status_restarts_total"}

EXERCISE_EVERY_METRIC = """
from referral_bus import metrics
from services.notifier.gauges import BREAKERS, PENDING
from services.notifier.pending import BreakerRow, PendingRow
metrics.configure("probe")
metrics.count("intake", "accepted"); metrics.event_in("intake"); metrics.event_out("intake", "t")
metrics.dead_lettered("intake", "undecodable"); metrics.stage_latency("intake", "ok", 3.0)
metrics.delivery("webhook", "delivered", latency_ms=40); metrics.sla_breach("r", "P1"); metrics.uncovered("police")
metrics.register_lag_source(lambda: [("t", 0, 5)], group="g")
metrics.register_gauges(lambda: [PendingRow("P1", "undelivered", 1, 1, 2.0)], ("priority", "state"), PENDING)
metrics.register_gauges(lambda: [BreakerRow("r", True, 1.0)], ("recipient_id",), BREAKERS)
print(metrics.exposition()[0].decode())
"""


@cache
def exported_names() -> frozenset[str]:
    """Every sample name a worker's /metrics can show (`_total`, `_bucket`, `_count`, `_sum` included)."""
    env = {k: v for k, v in os.environ.items() if k != "REFERRAL_BUS_NAMESPACE"}
    done = subprocess.run(
        [sys.executable, "-c", EXERCISE_EVERY_METRIC], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    names = set()
    for line in done.stdout.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return frozenset(n for n in names if n.startswith("referral_bus_"))


_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels and durations left out)."""
    text = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", text)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def test_metric_names_are_found_in_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{stage="$service", x=~"b|c"}[$__rate_interval]))) '
        "/ on (pod) group_left (node) b_total offset 5m > 0 and absent(c) or vector(0)"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


def _rules() -> dict[str, Any]:
    return yaml.safe_load(RULE_FILE.read_text(encoding="utf-8"))


def _alerts() -> list[dict[str, Any]]:
    return [r for g in _rules()["spec"]["groups"] for r in g["rules"] if "alert" in r]


def _promtool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not PROMTOOL.exists():
        message = "promtool missing: run `make promtool` (bash scripts/promtool/install.sh)"
        if SuiteSettings().under_ci:
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run([str(PROMTOOL), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def rule_dir(tmp_path: Path) -> Path:
    """The PrometheusRule's spec as a plain Prometheus rule file, next to a copy of the unit tests."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(_rules()["spec"], sort_keys=False), encoding="utf-8")
    shutil.copy(RULE_TESTS, tmp_path / "alerts.test.yaml")
    return tmp_path


def test_promtool_check_rules(rule_dir: Path) -> None:
    done = _promtool("check", "rules", "rules.yaml", cwd=rule_dir)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_test_rules(rule_dir: Path) -> None:
    done = _promtool("test", "rules", "alerts.test.yaml", cwd=rule_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_promtool_test_rules_can_fail(rule_dir: Path) -> None:
    """The rule tests bite: a P1 threshold raised so that one overdue referral no longer pages fails them."""
    spec = _rules()["spec"]
    rule = spec["groups"][0]["rules"][0]
    assert rule["alert"] == "ReferralNotDeliveredWithinSLA"
    rule["expr"] = rule["expr"].replace("> 0", "> 5")
    (rule_dir / "rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    done = _promtool("test", "rules", "alerts.test.yaml", cwd=rule_dir)
    assert done.returncode != 0
    assert "ReferralNotDeliveredWithinSLA" in done.stdout + done.stderr


def test_every_alert_has_a_firing_test_case() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {c["alertname"] for t in cases for c in t.get("alert_rule_test", []) if c.get("exp_alerts")}
    quiet = {c["alertname"] for t in cases for c in t.get("alert_rule_test", []) if not c.get("exp_alerts")}
    names = {a["alert"] for a in _alerts()}
    assert names - fired == set(), f"alerts with no case where they fire: {sorted(names - fired)}"
    assert names - quiet == set(), f"alerts with no case where they stay quiet: {sorted(names - quiet)}"


@pytest.mark.parametrize("alert", [a["alert"] for a in _alerts()])
def test_every_alert_links_an_existing_runbook_section(alert: str) -> None:
    (rule,) = [a for a in _alerts() if a["alert"] == alert]
    url = rule["annotations"]["runbook_url"]
    path, _, anchor = url.partition("#")
    target = ROOT / path
    assert path.startswith("docs/runbooks/") and target.is_file(), f"{alert}: runbook {url} does not exist"
    if anchor:
        headings = re.findall(r"^#+\s+(.*)$", target.read_text(encoding="utf-8"), flags=re.MULTILINE)
        slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-") for h in headings}
        assert anchor in slugs, f"{alert}: no heading for #{anchor} in {path} (headings: {sorted(slugs)})"


def test_rules_use_only_metrics_the_code_exports() -> None:
    used = set().union(*(metric_names(str(a["expr"])) for a in _alerts()))
    unknown = used - exported_names() - KUBE_STATE_METRICS
    assert not unknown, f"alert rules use metrics nobody exports: {sorted(unknown)}"


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            exprs.extend(t["expr"] for t in inner.get("targets", []) if "expr" in t)
    for variable in dashboard.get("templating", {}).get("list", []):
        if isinstance(variable.get("query"), dict) and "query" in variable["query"]:
            exprs.append(re.sub(r"^label_values\((\w+),.*\)$", r"\1", variable["query"]["query"]))
    return exprs


def test_dashboard_is_valid_json_and_uses_only_metrics_the_code_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))  # invalid JSON fails here
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    exprs = _dashboard_exprs(dashboard)
    assert len(exprs) >= 15
    used = set().union(*(metric_names(e) for e in exprs))
    unknown = used - exported_names()
    assert not unknown, f"dashboard uses metrics nobody exports: {sorted(unknown)}"
    # what the issue asks of it: per service throughput, latency, lag, dead letters; and the SLA
    for needed in (
        "referral_bus_events_in_total",
        "referral_bus_stage_latency_milliseconds_bucket",
        "referral_bus_consumer_lag",
        "referral_bus_dead_letters_total",
        "referral_bus_pending_referrals_overdue",
    ):
        assert needed in used, needed
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_the_dashboard_check_catches_an_unknown_metric() -> None:
    assert metric_names('sum(rate(referral_bus_evnts_in_total{stage="$service"}[5m]))') - exported_names() == {
        "referral_bus_evnts_in_total"
    }
