"""The notifier's lifecycle core: one action on one referral's state, over every state and action."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.errors import AcknowledgementError, IllegalTransitionError
from referral_domain.lifecycle import from_settings
from services.notifier.lifecycle import Applied, Unchanged, apply, case_view, lifecycle_fields, request_id, state_of

LC = from_settings()
BY_KIND = {"police": ("hue-police", "hn-police"), "child_protection": ("hue-cp", "nat-cp"), "health": ("hue-health",)}
kind_of = {rid: kind for kind, ids in BY_KIND.items() for rid in ids}.get  # recipient id -> its kind
RECORD = b"\xc3\x01referral-bytes"
REFERRAL = {"case": {"report": {"agency_id": "ngo-a", "report_id": "rep-1"}}}


def entry(state: str = "DELIVERED", **extra: Any) -> dict[str, Any]:
    base = {
        "case_id": "case-1",
        "recipient_id": "hue-police",
        "priority": "P1",
        "ack_sla_seconds": 900,
        "escalation_target": None,
        "delivered_at": 1_000,
        "status": LC.receipt_status(state),
        "partition": 0,
        **lifecycle_fields(REFERRAL, RECORD, "police", 1_000),
    }
    return {**base, "state": state, **extra}


def ack(outcome: str, **extra: Any) -> dict[str, Any]:
    fields = {"DECLINED": {"reason_code": "not_our_jurisdiction"}, "TRANSFERRED": {"transfer_to": "hn-police"}}
    return {
        "referral_id": "r-1",
        "recipient_id": "hue-police",
        "outcome": outcome,
        "reason": None,
        "acknowledged_at": 5_000,
        **fields.get(outcome, {}),
        **extra,
    }


@pytest.mark.parametrize(("state", "action"), list(itertools.product(LC.states, LC.actions)))
def test_every_state_and_action_is_applied_repeated_or_refused_never_half_applied(state: str, action: str) -> None:
    before = entry(state)
    snapshot = {**before, "history": list(before["history"])}
    target = LC.target(action)
    if target == state:
        assert isinstance(apply(before, ack(action), LC, kind_of=kind_of), Unchanged)
    elif target in LC.spec.transitions[state]:
        out = apply(before, ack(action, action_id="a-1"), LC, kind_of=kind_of)
        assert isinstance(out, Applied)
        assert out.entry["state"] == target and out.status_event == target
        assert out.entry["status"] == out.receipt["status"] == LC.receipt_status(target)
        assert out.receipt["lifecycle_state"] == target and out.receipt["action_id"] == "a-1"
        assert out.entry["history"][-1]["state"] == target and len(out.entry["history"]) == 2
        assert out.entry["action_ids"] == ["a-1"]
        assert (out.reroute is not None) == (target in ("DECLINED", "TRANSFERRED"))
        assert (out.entry["referral"] is None) == LC.is_final(target)
    else:
        with pytest.raises(IllegalTransitionError) as err:
            apply(before, ack(action), LC, kind_of=kind_of)
        assert err.value.referral_id == "r-1" and err.value.case_id == "case-1"
    assert before == snapshot  # the stored entry is never modified in place


def test_a_decline_asks_routing_to_send_the_case_on_with_the_referral_record() -> None:
    out = apply(entry("RECEIVED"), ack("DECLINED"), LC, kind_of=kind_of)
    assert isinstance(out, Applied) and out.reroute is not None
    assert out.reroute == {
        "request_id": request_id("r-1", "DECLINED"),
        "case_id": "case-1",
        "referral_id": "r-1",
        "recipient_id": "hue-police",
        "recipient_kind": "police",
        "action": "DECLINED",
        "transfer_to": None,
        "reason_code": "not_our_jurisdiction",
        "requested_at": 5_000,
        "referral": RECORD,
    }
    assert out.receipt["status"] == "REJECTED" and out.receipt["detail"] == "reason_code not_our_jurisdiction"


def test_a_v1_rejection_is_a_decline_with_the_legacy_reason_code() -> None:
    out = apply(entry(), ack("REJECTED", reason="not ours"), LC, kind_of=kind_of)
    assert isinstance(out, Applied) and out.entry["state"] == "DECLINED"
    assert out.receipt["reason_code"] == LC.spec.legacy_decline_reason


def test_an_entry_written_before_the_lifecycle_is_read_by_its_status() -> None:
    old = {k: v for k, v in entry().items() if k not in ("state", "history", "action_ids", "kind")}
    old["status"] = "ACKNOWLEDGED"
    assert state_of(old, LC) == "ACCEPTED"
    out = apply(old, ack("COMPLETED", outcome_code="support_provided"), LC, kind_of=kind_of)
    assert isinstance(out, Applied) and out.entry["history"] == [
        {
            "state": "COMPLETED",
            "at": 5_000,
            "action_id": None,
            "reason_code": None,
            "outcome_code": "support_provided",
            "transfer_to": None,
        }
    ]


def test_a_transfer_must_be_an_allowed_pair_to_a_known_recipient() -> None:
    out = apply(entry("ACCEPTED"), ack("TRANSFERRED"), LC, kind_of=kind_of)
    assert isinstance(out, Applied) and out.reroute is not None and out.reroute["transfer_to"] == "hn-police"
    for to, why in (
        ("hue-health", "may not transfer"),
        ("nobody", "not a recipient"),
        ("hue-police", "may not transfer"),
    ):
        with pytest.raises(AcknowledgementError, match=why) as err:
            apply(entry("ACCEPTED"), ack("TRANSFERRED", transfer_to=to), LC, kind_of=kind_of)
        assert err.value.field == "transfer_to"


def test_a_repeated_action_id_changes_nothing() -> None:
    first = apply(entry(), ack("ACCEPTED", action_id="x"), LC, kind_of=kind_of)
    assert isinstance(first, Applied)
    again = apply(first.entry, ack("COMPLETED", action_id="x"), LC, kind_of=kind_of)
    assert isinstance(again, Unchanged) and again.why == "repeated action_id"


def test_no_referral_or_another_recipients_is_refused() -> None:
    with pytest.raises(AcknowledgementError, match="no delivered referral"):
        apply(None, ack("ACCEPTED"), LC, kind_of=kind_of)
    with pytest.raises(AcknowledgementError, match="other than the referral's") as err:
        apply(entry(), ack("ACCEPTED", recipient_id="hn-police"), LC, kind_of=kind_of)
    assert err.value.case_id == "case-1"


def test_a_decline_without_the_record_cannot_be_sent_on() -> None:
    with pytest.raises(AcknowledgementError, match="no longer held"):
        apply(entry(referral=None), ack("DECLINED"), LC, kind_of=kind_of)


def test_the_note_is_never_copied_anywhere() -> None:
    out = apply(entry(), ack("DECLINED", note="Nguyễn Văn A, 0912 345 678"), LC, kind_of=kind_of)
    assert isinstance(out, Applied)
    assert "Nguy" not in repr((out.entry, out.receipt, {**(out.reroute or {}), "referral": None}))


def test_case_view_excludes_every_holder_and_lists_active_kinds() -> None:
    entries = [
        entry("DECLINED"),
        entry("ACCEPTED", recipient_id="hue-cp"),
        entry("COMPLETED", recipient_id="hn-police"),
    ]
    assert case_view(entries, LC, kind_of) == (["hn-police", "hue-cp", "hue-police"], ["child_protection"])


# every state a `referral_state` entry may carry, and whether the referral still covers its recipient's kind
STANDS = {"ROUTED": True, "REQUESTED": True, "DELIVERED": True, "RECEIVED": True, "ACCEPTED": True}
STANDS |= {"IN_PROGRESS": True, "ACKNOWLEDGED": True, "DECLINED": False, "REJECTED": False, "COMPLETED": False}
STANDS |= {"CANCELLED": False, "REVOKED": False, "TRANSFERRED": False, "FAILED": False, "REFUSED": False}
STANDS |= {"UNKNOWN": False}
RECIPIENTS = sorted(rid for ids in BY_KIND.values() for rid in ids)


def test_every_lifecycle_state_is_classified_here() -> None:
    assert set(LC.spec.states) | set(LC.spec.legacy_states) <= set(STANDS)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(STANDS)), st.sampled_from(RECIPIENTS)), max_size=6))
def test_case_view_never_raises_and_counts_a_kind_only_while_a_sibling_stands_for_it(
    siblings: list[tuple[str, str]],
) -> None:
    """A decline or transfer beside siblings in any stored state (not delivered yet, given up, refused) re-routes."""
    entries = [{"case_id": "case-1", "recipient_id": rid, "status": state} for state, rid in siblings]  # as stored
    excluded, active = case_view(entries, LC, kind_of)
    assert excluded == sorted({rid for _, rid in siblings})
    assert active == sorted({str(kind_of(rid)) for state, rid in siblings if STANDS[state]})


def test_lifecycle_fields_keep_ids_kinds_and_the_record() -> None:
    f = lifecycle_fields(REFERRAL, RECORD, "police", 7)
    assert f["referral"] == base64.b64encode(RECORD).decode() and f["agency_id"] == "ngo-a"
    assert f["report_id"] == "rep-1" and f["history"] == [{"state": "DELIVERED", "at": 7}]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LC.actions), max_size=12))
def test_any_sequence_of_actions_follows_the_transitions(actions: list[str]) -> None:
    current = entry()
    for i, action in enumerate(actions):
        before = state_of(current, LC)
        try:
            out = apply(current, ack(action, action_id=f"a{i}"), LC, kind_of=kind_of)
        except IllegalTransitionError:
            assert LC.target(action) not in LC.spec.transitions[before]
            continue
        if isinstance(out, Applied):
            assert out.entry["state"] in LC.spec.transitions[before]
            current = out.entry
        else:
            assert LC.target(action) == before
    states = [h["state"] for h in current["history"]]
    assert all(b in LC.spec.transitions[a] for a, b in itertools.pairwise(states))
    assert not any(LC.is_final(s) for s in states[:-1])


def test_the_sla_and_the_ack_endpoint_agree_with_the_file() -> None:
    from services.notifier.acks import FINAL
    from services.notifier.sla import AWAITING_ACK, NOT_DELIVERED

    # the entry's `status` is the receipt status: the SLA runs exactly in the states the file says; the
    # clock starts at routing, so REQUESTED (QUEUED) counts, and the notifier writes it as one of its
    # not-delivered statuses (routed, given up, refused)
    running = {LC.receipt_status(s) for s in LC.states if LC.sla_running(s)}
    assert "QUEUED" in running
    assert (running - {"QUEUED"}) | NOT_DELIVERED == AWAITING_ACK
    assert {LC.receipt_status(s) for s in LC.states if LC.is_final(s)} <= FINAL
