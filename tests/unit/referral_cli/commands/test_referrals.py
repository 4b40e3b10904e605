"""`referrals pending` lists what the safeguards refused and the cases held for the reporting agency."""

from __future__ import annotations

from referral_cli.commands.referrals import pending


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
