"""Every state × every action: the inbox offers and accepts exactly what config/lifecycle.yaml allows."""

from __future__ import annotations

import pytest

from referral_bus.settings import config_file
from referral_domain.directory import load_directory
from referral_domain.lifecycle import Lifecycle, from_settings
from services.inbox.actions import ASKED, acknowledgement, parse_action, state_of, transfer_targets

LC = from_settings()
FILLED = {"reason_code": "other", "outcome_code": "no_further_action", "transfer_to": "vn-police-hue"}


@pytest.mark.parametrize("state", LC.states)
@pytest.mark.parametrize("action", [*LC.actions, "NOPE", ""])
def test_an_action_is_accepted_exactly_when_the_lifecycle_allows_it(state: str, action: str) -> None:
    form = {"action": action, **({ASKED[action]: FILLED[ASKED[action]]} if action in ASKED else {})}
    chosen = parse_action(form, state, LC, ["vn-police-hue"])
    if action in LC.allowed_actions(state):
        assert not isinstance(chosen, str), chosen
        assert chosen.action.outcome == action
    else:
        assert chosen == "not_allowed"


def test_final_states_offer_nothing(lifecycle: Lifecycle) -> None:
    for state in ("DECLINED", "COMPLETED", "CANCELLED", "TRANSFERRED"):
        assert lifecycle.allowed_actions(state) == []


def test_codes_not_asked_for_are_dropped() -> None:
    chosen = parse_action({"action": "ACCEPTED", **FILLED}, "DELIVERED", LC, ["vn-police-hue"])
    assert not isinstance(chosen, str)
    ack = acknowledgement(chosen, "ref-1", "vn-police-ha-noi", 5)
    assert (ack["reason_code"], ack["outcome_code"], ack["transfer_to"]) == (None, None, None)


def test_each_press_gets_its_own_action_id() -> None:
    chosen = parse_action({"action": "ACCEPTED"}, "DELIVERED", LC, [])
    assert not isinstance(chosen, str)
    assert acknowledgement(chosen, "r", "p", 1)["action_id"] != acknowledgement(chosen, "r", "p", 1)["action_id"]


def test_receipts_report_states() -> None:
    assert state_of(LC, {"status": "DELIVERED", "lifecycle_state": "DELIVERED"}) == "DELIVERED"
    assert state_of(LC, {"status": "ACKNOWLEDGED"}) == "ACCEPTED"  # a v2 receipt: read through legacy names
    assert state_of(LC, {"status": "REJECTED", "lifecycle_state": None}) == "DECLINED"
    assert state_of(LC, {"status": "ESCALATED"}) is None  # not a state change of this referral
    assert state_of(LC, {"status": "FAILED"}) is None


def test_transfer_targets_follow_the_lifecycle() -> None:
    directory = load_directory(config_file("recipients.yaml"))
    police = transfer_targets(LC, directory, "vn-police-ha-noi")
    me = directory.recipients["vn-police-ha-noi"]
    assert "vn-police-hue" in police and "vn-police-ha-noi" not in police
    assert police == sorted(
        r.id for r in directory.recipients.values() if LC.transfer_allowed(me.id, me.kind, r.id, r.kind)
    )
    assert "vn-health-oscc-national" not in police
    assert transfer_targets(LC, directory, "nobody") == []
