"""The notifier's gauges on real workers and the real broker: recipients down, then back.

While every recipient answers 503 the breakers open and the referrals wait `undelivered`; once they
answer again the breakers close, nothing waits undelivered, and the delivered referrals wait
`unacknowledged` (nobody acknowledges in this test) — what the SLA alerts and the dashboard read.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

from referral_bus.settings import REPO_ROOT
from referral_devstack.produce import produce
from tests.support.harness import Stack
from tests.support.metrics import metric
from tests.support.polling import poll

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.timeout(900)]

EXAMPLES = REPO_ROOT / "examples" / "reports.jsonl"
RECIPIENTS = [r["id"] for r in yaml.safe_load((REPO_ROOT / "config" / "recipients.yaml").read_text())["recipients"]]


async def until(stack: Stack, check: Any, what: str, timeout: float = 240) -> str:
    """Poll the notifier's /metrics until `check(text)` holds; return the text."""
    url = f"http://127.0.0.1:{stack._w().ports['notifier']}/metrics"

    def scrape() -> str:
        try:
            return httpx.get(url, timeout=5).text
        except httpx.HTTPError:
            return ""

    text = await poll(lambda: (t := scrape()) and check(t) and t, timeout, interval=0.5)
    if not text:
        pytest.fail(f"{what} not seen within {timeout:.0f}s:\n{scrape()[-3000:]}\n{stack._w().tail('notifier', 30)}")
    return text


async def test_breakers_and_pending_referrals_show_on_metrics_while_recipients_are_down_and_after(
    stack: Stack,
) -> None:
    stack.extra_env.update(
        {
            "NOTIFIER_BREAKER_FAILURE_THRESHOLD": "1",
            "NOTIFIER_BREAKER_RESET_SECONDS": "2",
            "NOTIFIER_BACKOFF_BASE_SECONDS": "0.5",
            "NOTIFIER_BACKOFF_MAX_SECONDS": "2",
            "NOTIFIER_MAX_ATTEMPTS": "1000",
            "NOTIFIER_SLA_CHECK_INTERVAL_SECONDS": "1",
        }
    )
    for recipient_id in RECIPIENTS:
        stack.receiver.set_behaviour(recipient_id, lambda n: 503)
    await stack.start()
    text = await until(stack, lambda t: "referral_bus_pending_referrals{" in t, "the pending gauges")
    assert metric(text, "referral_bus_pending_referrals") == 0
    await produce(EXAMPLES)

    def down(t: str) -> bool:
        return (
            metric(t, "referral_bus_breaker_open") >= 1
            and metric(t, "referral_bus_pending_referrals", state="undelivered") >= 1
        )

    text = await until(stack, down, "an open breaker and undelivered referrals")
    open_ids = {r for r in RECIPIENTS if metric(text, "referral_bus_breaker_open", recipient_id=r) == 1}
    assert open_ids, text
    assert all(stack.receiver.receiver.behaviour.get(r) for r in open_ids)
    waiting = metric(text, "referral_bus_pending_referrals", state="undelivered")

    for recipient_id in RECIPIENTS:
        stack.receiver.set_behaviour(recipient_id, None)

    def back(t: str) -> bool:
        return (
            metric(t, "referral_bus_pending_referrals", state="undelivered") == 0
            and metric(t, "referral_bus_pending_referrals", state="unacknowledged") >= waiting
            and all(metric(t, "referral_bus_breaker_open", recipient_id=r) == 0 for r in open_ids)
        )

    text = await until(stack, back, "breakers closed and the referrals delivered")
    assert metric(text, "referral_bus_breaker_open_duration_seconds") == 0
    assert metric(text, "referral_bus_pending_referrals_overdue", state="undelivered") == 0
