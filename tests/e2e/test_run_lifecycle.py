"""`make run` without a terminal (CI, these checks): the sample and statistics tables, then it exits and stops
what it started (its Jaeger), leaving the broker that was already running alone."""

from __future__ import annotations

import re

import pytest

from referral_devstack import broker
from referral_devstack.jaeger import BINARY, JaegerClient
from tests.support.runs import DemoRun, private_jaeger

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


@pytest.mark.timeout(600)
def test_without_a_terminal_it_exits_after_the_table_and_leaves_no_process(kafka: str) -> None:
    if not BINARY.exists():
        pytest.skip("Jaeger not built: `make jaeger` (make test builds it first)")
    jaeger_env, query = private_jaeger()
    demo = DemoRun(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            **jaeger_env,
        },
        tty=False,
    )
    demo.start()
    try:
        code = demo.wait(timeout=480)
    finally:
        demo.kill()
    out = demo.text
    assert code == 0, out
    assert "expected referrals delivered" in out and "==> local Kafka broker" in out
    # the delivery table, then the week's statistics as the stats worker published them
    assert out.index("expected referrals delivered") < out.index("weekly statistics (anonymised") < out.index("TOTAL")
    assert "The bus stays up" not in out
    declined = next((ln for ln in out.splitlines() if "declined referral" in ln), "")  # docs/lifecycle.md
    assert "re-routed by routing to" in declined or "duty desk" in declined, out
    # the inbox's address and a sample recipient's sign-in (docs/inbox.md)
    assert "/inbox/" in out and "sign in as vn-police-ha-noi with password" in out
    # the ledger worker chained the deliveries' disclosures (docs/data-protection.md)
    assert re.search(r"ledger: [1-9]\d* disclosure\(s\) chained", out), out
    assert "(left running at the end)" in out  # the shared broker was already up
    assert "stopped Jaeger" in out
    assert demo.seen, "the demo started no process at all?"
    assert demo.leftovers() == set(), out
    assert not JaegerClient(f"http://127.0.0.1:{query}").alive()
    assert broker.answers(kafka)
