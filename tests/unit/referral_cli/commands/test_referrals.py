"""`referrals pending` lists what the safeguards refused and the cases held for the reporting agency."""

from __future__ import annotations

import argparse
import time

import pytest

from referral_cli.commands import referrals
from referral_cli.commands.referrals import Pending, pending


def _receipt(rid: str, status: str, at: int, detail: str | None = None) -> dict[str, object]:
    return {"referral_id": rid, "case_id": f"case-{rid}", "recipient_id": "r", "status": status, "at": at,
            "detail": detail}  # fmt: skip


def test_refused_and_held_are_listed_until_closed() -> None:
    decisions = [
        {
            "decision_id": "dec-1",
            "case_id": "case-held",
            "held": True,
            "held_for": "agency-7",
            "priority": "P3",
            "decided_at": 5,
        },
        {
            "decision_id": "dec-2",
            "case_id": "case-routed",
            "held": False,
            "held_for": None,
            "priority": "P1",
            "decided_at": 6,
        },
    ]
    receipts = [
        _receipt("a", "REFUSED", 1, "a refused by safeguard adult-without-consent-no-police: kind police ..."),
        _receipt("b", "DELIVERED", 2),
        _receipt("c", "REFUSED", 3),
        _receipt("c", "REVOKED", 4),  # closed: no longer listed
    ]
    rows = {r.referral_id: r for r in pending(receipts, {"a": {"priority": "P1", "ack_sla_seconds": 60}}, decisions)}
    assert set(rows) == {"a", "b", "dec-1"}
    assert rows["a"].state == "REFUSED" and "adult-without-consent-no-police" in (rows["a"].detail or "")
    assert rows["b"].state == "AWAITING_ACK"
    assert rows["dec-1"].state == "HELD" and rows["dec-1"].recipient_id == "agency-7"
    assert pending(receipts, {"a": {"priority": "P1"}}, decisions)[0].referral_id == "a"  # P1 first


def test_not_delivered_is_listed_apart_from_not_acknowledged_and_both_count_from_routing() -> None:
    now = int(time.time() * 1000)

    def ref(rid: str, created_at: int, priority: str = "P1") -> dict[str, object]:
        return {"case_id": f"case-{rid}", "recipient_id": "r", "priority": priority, "ack_sla_seconds": 60,
                "created_at": created_at}  # fmt: skip

    referrals = {
        "retrying": ref("retrying", now - 120_000),  # failing for 2 minutes: overdue, never delivered
        "fresh": ref("fresh", now, "P2"),  # just routed, not attempted yet
        "late": ref("late", now - 90_000),  # delivered only 10 s ago, but routed 90 s ago: overdue
        "acked": ref("acked", now - 90_000),
        "esc": ref("esc", now - 200_000),
    }
    receipts = [
        _receipt("retrying", "FAILED", now - 100_000, "attempt 1 of 6 failed: HTTP 503; next attempt after ..."),
        _receipt("late", "DELIVERED", now - 10_000),
        _receipt("acked", "ACKNOWLEDGED", now - 80_000),  # acknowledged before it was delivered
        _receipt("acked", "DELIVERED", now - 70_000),
        _receipt("esc", "FAILED", now - 190_000, "given up and dead-lettered: HTTP 400"),
        _receipt("esc", "ESCALATED", now - 140_000),
        _receipt("esc", "ESCALATED", now - 80_000),
    ]
    rows = {r.referral_id: r for r in pending(receipts, referrals)}
    assert set(rows) == {"retrying", "fresh", "late", "esc"}
    assert rows["retrying"].state == rows["fresh"].state == rows["esc"].state == "NOT_DELIVERED"
    assert rows["late"].state == "AWAITING_ACK" and rows["late"].overdue
    assert rows["retrying"].overdue and not rows["fresh"].overdue
    assert "HTTP 503" in (rows["retrying"].detail or "") and rows["fresh"].detail == "not attempted yet"
    assert rows["esc"].escalations == 2 and "dead-lettered" in (rows["esc"].detail or "")
    order = [r.referral_id for r in pending(receipts, referrals)]
    assert order == ["esc", "retrying", "late", "fresh"]  # P1 first, then longest since routing


def test_the_table_says_not_delivered_and_not_acknowledged_in_words(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time() * 1000)
    rows = [
        Pending("r1", "case-1", "desk", "P1", now - 120_000, 60, 1, "NOT_DELIVERED", "HTTP 503", now - 120_000),
        Pending("r2", "case-2", "desk", "P2", now - 1_000, 60, 0, routed_at=now - 90_000),
    ]

    async def collect(_: object) -> list[Pending]:
        return rows

    monkeypatch.setattr(referrals, "collect", collect)
    assert referrals._run(argparse.Namespace(json=False)) == 0
    out = capsys.readouterr().out
    assert "not delivered" in out and "not acknowledged" in out and "r1: HTTP 503" in out
    assert "1 referral(s) not delivered, 1 delivered and not acknowledged, 2 overdue (SLA from routing)" in out
