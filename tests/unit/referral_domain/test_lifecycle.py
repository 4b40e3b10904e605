"""config/lifecycle.yaml and `Lifecycle.check`: every allowed and every refused transition, exhaustively."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from referral_bus.errors import AcknowledgementError, IllegalTransitionError, RulesError
from referral_domain.lifecycle import Action, Lifecycle, from_settings, load_lifecycle

LC = from_settings()
STATES = [
    "REQUESTED",
    "DELIVERED",
    "RECEIVED",
    "ACCEPTED",
    "IN_PROGRESS",
    "DECLINED",
    "COMPLETED",
    "CANCELLED",
    "TRANSFERRED",
]
ACTIONS = ["RECEIVED", "ACCEPTED", "IN_PROGRESS", "DECLINED", "REJECTED", "COMPLETED", "TRANSFERRED"]
# The contract, written out independently of the file: (state, action) → new state. Everything else is refused.
ALLOWED = {
    ("DELIVERED", "RECEIVED"): "RECEIVED",
    ("DELIVERED", "ACCEPTED"): "ACCEPTED",
    ("DELIVERED", "DECLINED"): "DECLINED",
    ("DELIVERED", "REJECTED"): "DECLINED",
    ("DELIVERED", "COMPLETED"): "COMPLETED",
    ("DELIVERED", "TRANSFERRED"): "TRANSFERRED",
    ("RECEIVED", "ACCEPTED"): "ACCEPTED",
    ("RECEIVED", "DECLINED"): "DECLINED",
    ("RECEIVED", "REJECTED"): "DECLINED",
    ("RECEIVED", "COMPLETED"): "COMPLETED",
    ("RECEIVED", "TRANSFERRED"): "TRANSFERRED",
    ("ACCEPTED", "IN_PROGRESS"): "IN_PROGRESS",
    ("ACCEPTED", "COMPLETED"): "COMPLETED",
    ("ACCEPTED", "TRANSFERRED"): "TRANSFERRED",
    ("IN_PROGRESS", "COMPLETED"): "COMPLETED",
    ("IN_PROGRESS", "TRANSFERRED"): "TRANSFERRED",
}
# A repeat of the action that led to the state: no change, no error.
REPEATS = {(s, a) for s in STATES for a in ACTIONS if LC.target(a) == s}
FIELDS = {"DECLINED": {"reason_code": "not_our_mandate"}, "TRANSFERRED": {"transfer_to": "vn-police-hue"}}


def _action(a: str) -> Action:
    return Action(a, **FIELDS.get(a, {}))


def test_the_file_has_exactly_the_states_and_actions_of_the_contract() -> None:
    assert LC.states == STATES
    assert LC.actions == ACTIONS


@pytest.mark.parametrize(("state", "action"), list(itertools.product(STATES, ACTIONS)))
def test_every_state_and_action(state: str, action: str) -> None:
    if (state, action) in ALLOWED:
        verdict = LC.check(state, _action(action))
        assert verdict.state == ALLOWED[state, action] and not verdict.unchanged
    elif (state, action) in REPEATS:
        assert LC.check(state, _action(action)).unchanged
    else:
        with pytest.raises(IllegalTransitionError) as err:
            LC.check(state, _action(action))
        assert err.value.reason == "illegal_transition" and err.value.field == "outcome"
        assert f"not allowed on a referral in state {state}" in str(err.value)


@pytest.mark.parametrize("state", STATES)
def test_allowed_actions_are_exactly_the_allowed_transitions_without_legacy_names(state: str) -> None:
    expected = [a for a in ACTIONS if (state, a) in ALLOWED and a != "REJECTED"]
    assert LC.allowed_actions(state) == expected
    assert LC.is_final(state) == (state in {"DECLINED", "COMPLETED", "CANCELLED", "TRANSFERRED"})


def test_legacy_names_are_read_as_lifecycle_states() -> None:
    assert LC.normalise("ACKNOWLEDGED") == "ACCEPTED"
    assert LC.normalise("REJECTED") == "DECLINED"
    assert LC.normalise("REVOKED") == "CANCELLED"
    assert LC.check("ACKNOWLEDGED", Action("COMPLETED")).state == "COMPLETED"
    assert LC.check("REJECTED", Action("REJECTED")).unchanged
    with pytest.raises(IllegalTransitionError):
        LC.check("REVOKED", Action("ACCEPTED"))


def test_receipt_status_keeps_the_v1_names_of_accepted_and_declined() -> None:
    assert LC.receipt_status("ACCEPTED") == "ACKNOWLEDGED"
    assert LC.receipt_status("DECLINED") == "REJECTED"
    assert [s for s in STATES if LC.sla_running(s)] == ["REQUESTED", "DELIVERED", "RECEIVED"]  # from routing on
    assert [s for s in STATES if LC.is_active(s)] == ["REQUESTED", "DELIVERED", "RECEIVED", "ACCEPTED", "IN_PROGRESS"]


def test_an_unknown_outcome_or_state_is_refused() -> None:
    with pytest.raises(AcknowledgementError, match="outcome must be one of"):
        LC.check("DELIVERED", Action("UNKNOWN"))
    with pytest.raises(IllegalTransitionError, match="does not know"):
        LC.check("SHREDDED", Action("ACCEPTED"))


@pytest.mark.parametrize(
    ("action", "field"),
    [
        (Action("DECLINED"), "reason_code"),
        (Action("DECLINED", reason_code="because"), "reason_code"),
        (Action("TRANSFERRED"), "transfer_to"),
        (Action("COMPLETED", outcome_code="solved-it"), "outcome_code"),
    ],
)
def test_an_action_without_what_it_needs_or_with_an_unknown_code_is_refused(action: Action, field: str) -> None:
    with pytest.raises(AcknowledgementError) as err:
        LC.check("DELIVERED", action)
    assert err.value.field == field and err.value.reason == "invalid_ack"


def test_codes_from_the_lists_are_accepted() -> None:
    for code in LC.spec.decline_reasons:
        assert LC.check("RECEIVED", Action("DECLINED", reason_code=code)).state == "DECLINED"
    for code in LC.spec.completion_outcomes:
        assert LC.check("IN_PROGRESS", Action("COMPLETED", outcome_code=code)).state == "COMPLETED"
    assert LC.check("DELIVERED", Action("COMPLETED")).state == "COMPLETED"  # v1 producers send no outcome_code


def test_every_label_has_english_and_vietnamese() -> None:
    for group in (LC.spec.states, LC.spec.actions, LC.spec.decline_reasons, LC.spec.completion_outcomes):
        for label in group.values():
            assert label.en and label.vi


def test_transfers_by_kind_and_by_id_never_to_oneself() -> None:
    assert LC.transfer_allowed("a", "police", "b", "police")
    assert LC.transfer_allowed("a", "child_protection", "b", "social_services")
    assert LC.transfer_allowed("a", "police", "b", "child_protection")
    assert not LC.transfer_allowed("a", "police", "b", "health")
    assert not LC.transfer_allowed("a", "child_protection", "b", "police")
    assert not LC.transfer_allowed("a", "police", "a", "police")
    data = LC.spec.model_dump(by_alias=True)
    data["transfers"].append({"from": "x", "to": "y"})
    by_id = Lifecycle(type(LC.spec).model_validate(data))
    assert by_id.transfer_allowed("x", "health", "y", "police")
    assert not by_id.transfer_allowed("y", "police", "x", "health")


def _write(tmp_path: Path, change: dict[str, object]) -> Path:
    data = yaml.safe_load(LC_PATH.read_text(encoding="utf-8"))
    data.update(change)
    path = tmp_path / "lifecycle.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


LC_PATH = Path(__file__).resolve().parents[3] / "config" / "lifecycle.yaml"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"transitions": {"DELIVERED": ["NOWHERE"]}}, "unknown state NOWHERE"),
        ({"legacy_decline_reason": "nope"}, "legacy_decline_reason"),
        ({"surprise": 1}, "unknown key"),
        ({"actions": {"ACCEPTED": {"to": "LIMBO", "en": "a", "vi": "b"}}}, "unknown state LIMBO"),
    ],
)
def test_a_broken_file_is_refused_naming_the_problem(tmp_path: Path, change: dict[str, object], problem: str) -> None:
    with pytest.raises(RulesError) as err:
        load_lifecycle(_write(tmp_path, change))
    assert any(problem in p for p in err.value.problems)


def test_a_state_without_transitions_entry_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(LC_PATH.read_text(encoding="utf-8"))
    del data["transitions"]["COMPLETED"]
    with pytest.raises(RulesError, match="state COMPLETED has no entry"):
        load_lifecycle(_write(tmp_path, {"transitions": data["transitions"]}))
