"""Linked reports routed on their own facts: new recipients get a referral, holders an update, the gate always.

The property runs over the shipped rules, directory and safeguards (and the small test set): for any
linked report and any history of the case, the referrals made are exactly those the report would get
as a case of its own, every one admitted by the safeguards gate, each with an id no earlier referral has.
"""

from __future__ import annotations

import gc
from dataclasses import replace
from pathlib import Path
from typing import Any

import faust
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.errors import ProcessingError
from referral_bus.settings import REPO_ROOT
from referral_cli.ruletools.proof import facts_of
from referral_domain.safeguards import Gate, load_safeguards
from services.routing.conditions import CaseView
from services.routing.decisions import decision_record, referral_id_for, referral_records
from services.routing.gating import apply_gate
from services.routing.linked import HOLDER_REASON, PACKED, CaseState, Plan, add_holders, linked_referral_id, plan
from services.routing.model import PRIORITY_RANK
from services.routing.rules import RuleSet, load_rules
from tests.support.safeguards import SAFEGUARDS, concrete_cases, files
from tests.support.tables import Recording

SHIPPED = load_rules(REPO_ROOT / "config" / "recipients.yaml", REPO_ROOT / "config" / "rules.yaml")
GUARDS = load_safeguards(SAFEGUARDS)
PRIORITIES = sorted(PRIORITY_RANK)


def _case(view: CaseView, *, linked: bool) -> dict[str, Any]:
    """The Case fields plan() reads: the report's identity and, for a linked report, its link."""
    report = {"agency_id": "agency-b", "report_id": view.report_id}
    links = [{"agency_id": "agency-b", "report_id": view.report_id, "matched_on": "url"}] if linked else []
    return {"case_id": view.case_id, "report": report, "is_update": linked, "linked_reports": links}


def _gated(ruleset: RuleSet, view: CaseView) -> Any:
    return apply_gate(ruleset.decide(view), facts_of(view), Gate(GUARDS, ruleset.directory))


def _route(ruleset: RuleSet, view: CaseView, state: CaseState | None, *, linked: bool) -> tuple[Any, Plan]:
    """What the handler does: decide, gate, add the case's gated holders (a linked report), plan."""
    decision = _gated(ruleset, view)
    add_holders(decision, _case(view, linked=linked), state, facts_of(view), Gate(GUARDS, ruleset.directory))
    return decision, plan(decision, _case(view, linked=linked), state, referral_id_for)


def _states(ruleset: RuleSet) -> st.SearchStrategy[CaseState | None]:
    ids = sorted(ruleset.directory.recipients)
    holders = st.dictionaries(st.sampled_from(ids), st.sampled_from(["ref-a", "ref-b"]).map(lambda r: r + "-x"))
    state = st.builds(CaseState, holders, st.sampled_from(PRIORITIES), st.integers(1, 10**6))
    return st.one_of(st.none(), state)


def _check(ruleset: RuleSet, view: CaseView, state: CaseState | None) -> None:
    gate = Gate(GUARDS, ruleset.directory)
    facts = facts_of(view)
    alone = {c.recipient.id for c in _gated(ruleset, view).recipients}  # the report as a case of its own
    decision, routed = _route(ruleset, view, state, linked=True)
    record = decision_record(decision, now_ms=1, held_for="agency-b", plan=routed)
    referrals = referral_records(decision, record, _case(view, linked=True), now_ms=1, plan=routed)
    got = {r["recipient_id"] for r in referrals}
    holders = set(state.holders) if state else set()
    admitted = {h for h in holders if gate.admit(facts, h) is None}
    assert got >= alone, "a linked report reaches every recipient it needs on its own"
    assert got - alone <= admitted, "and besides them only holders of the case the gate admits"
    assert admitted <= got, "every holder the gate admits is told (an update)"
    for r in referrals:
        if r["recipient_id"] not in alone:
            assert r["reason"] == HOLDER_REASON and r["link"]["update"] is True
    for r in referrals:
        assert gate.admit(facts, r["recipient_id"]) is None, r["recipient_id"]
        if r["escalation_target"] is not None:
            assert gate.admit(facts, r["escalation_target"]) is None, r["escalation_target"]
        held = (state.holders if state else {}).get(r["recipient_id"])
        assert r["link"]["update"] == (held is not None)
        assert r["link"]["update_of"] == held
        assert r["referral_id"] not in (state.holders.values() if state else ()), "never an earlier referral's id"
    assert len({r["referral_id"] for r in referrals}) == len(referrals)
    assert set(record["updated_recipients"]) == {r["recipient_id"] for r in referrals if r["link"]["update"]}
    after = routed.state
    assert set(after.holders) == holders | got
    if state is not None:
        assert PRIORITY_RANK[after.priority] == min(PRIORITY_RANK[state.priority], PRIORITY_RANK[decision.priority])
        raised = PRIORITY_RANK[decision.priority] < PRIORITY_RANK[state.priority]
        assert record["raised_from"] == (state.priority if raised else None)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(concrete_cases(SHIPPED), _states(SHIPPED))
def test_shipped_rules_route_a_linked_report_on_its_own_facts_and_only_through_the_gate(
    view: CaseView, state: CaseState | None
) -> None:
    _check(SHIPPED, view, state)


def test_small_rules_too(tmp_path: Path) -> None:
    ruleset = load_rules(*files(tmp_path))

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(concrete_cases(ruleset), _states(ruleset))
    def holds(view: CaseView, state: CaseState | None) -> None:
        _check(ruleset, view, state)

    holds()


def _view(**changes: Any) -> CaseView:
    base: dict[str, Any] = {
        "case_id": "case-1",
        "report_id": "r-2",
        "category": "CSAM",
        "severity": "IMMINENT_DANGER",
        "victim_minor": True,
        "age_band": "AGE_13_15",
        "consent": "NOT_REQUIRED_CHILD",
        "consented_services": (),
        "victim_jurisdiction": "VN-HN",
        "offender_country": None,
        "hosting_country": None,
        "platform": None,
        "preservation_requested": False,
    }
    return CaseView(**{**base, **changes})


def test_holder_gets_an_update_a_new_recipient_its_referral_and_the_priority_rises(tmp_path: Path) -> None:
    ruleset = load_rules(*files(tmp_path))
    first = _gated(ruleset, _view(severity="LOW", report_id="r-1"))
    first_plan = plan(first, _case(_view(report_id="r-1"), linked=False), None, referral_id_for)
    assert [p.referral_id for p in first_plan.referrals] == [
        referral_id_for("case-1", c.recipient.id) for c in first.recipients
    ]
    # the first report reached police and child protection; drop child protection from what the case holds
    holders = {k: v for k, v in first_plan.state.holders.items() if k != "cp-national"}
    state = CaseState(holders, first_plan.state.priority, first_plan.state.ack_sla_seconds)
    _, routed = _route(ruleset, _view(), state, linked=True)
    kinds = {p.recipient_id: p.update_of for p in routed.referrals}
    assert kinds["police-hn"] == referral_id_for("case-1", "police-hn")  # an update of what police holds
    assert kinds["cp-national"] is None  # new to the case: a referral of its own
    assert routed.raised_from == "P3" and routed.state.priority == "P1" and routed.state.ack_sla_seconds == 900
    assert routed.referrals[0].referral_id == linked_referral_id("case-1", "police-hn", "agency-b", "r-2")
    assert routed.decision_id is not None and routed.decision_id != decision_record(first, now_ms=1)["decision_id"]
    # a replay of the same linked report after its state landed: the same referrals, the same kinds
    _, again = _route(ruleset, _view(), routed.state, linked=True)
    assert [(p.recipient_id, p.referral_id, p.update_of) for p in again.referrals] == [
        (p.recipient_id, p.referral_id, p.update_of) for p in routed.referrals
    ]


def test_an_ungated_decision_is_refused(tmp_path: Path) -> None:
    ruleset = load_rules(*files(tmp_path))
    with pytest.raises(ProcessingError):
        plan(ruleset.decide(_view()), _case(_view(), linked=True), None, referral_id_for)


@pytest.mark.parametrize(
    "raw",
    [None, {}, {"holders": [], "priority": "P1", "sla": 1}, {"holders": {}, "priority": "P9", "sla": 1}, "x"],
)
def test_a_malformed_state_is_a_processing_error(raw: Any) -> None:
    with pytest.raises(ProcessingError):
        CaseState.from_json(raw)


def test_state_round_trips() -> None:
    s = CaseState({"b": "ref-2", "a": "ref-1"}, "P2", 3600)
    assert CaseState.from_json(s.to_json()) == s


def test_a_routed_row_is_not_walked_by_the_collector_and_reads_back_the_same() -> None:
    s = CaseState({"b": "ref-2", "a": "ref-1"}, "P2", 3600)
    routed = Recording(
        faust.App("routed-packed", store="memory://"), name="routed", default=None, key_type=str, packed=PACKED
    )
    routed.partition_for_key = lambda key: 0  # type: ignore[method-assign]  # no Faust event here
    routed.put("case-1", s.to_json())
    assert not gc.is_tracked(routed.data["case-1"])  # its holders object would keep it tracked for ever
    assert CaseState.from_json(routed.data["case-1"]) == s


def test_a_refusing_adults_linked_report_never_reaches_the_police_that_hold_the_case(tmp_path: Path) -> None:
    ruleset = load_rules(*files(tmp_path))
    child = _gated(ruleset, _view(report_id="r-1"))
    first = plan(child, _case(_view(report_id="r-1"), linked=False), None, referral_id_for)
    assert {"police-hn", "cp-national"} <= set(first.state.holders)
    adult = _view(
        victim_minor=False,
        age_band="ADULT",
        consent="REFUSED",
        consented_services=("health",),
        severity="IMMINENT_DANGER",
    )
    decision, routed = _route(ruleset, adult, first.state, linked=True)
    reached = {p.recipient_id for p in routed.referrals}
    assert reached == {"health-national"}, reached  # child protection holds the case too: not consented to
    refused = {(path, r.recipient_id) for path, r in decision.refused}
    assert {("holder", "police-hn"), ("holder", "cp-national")} <= refused
    gate = Gate(GUARDS, ruleset.directory)
    assert gate.admit(facts_of(adult), "police-hn") is not None  # the gate would refuse it: and it gets nothing
    assert set(routed.state.holders) == set(first.state.holders) | {"health-national"}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(concrete_cases(SHIPPED), min_size=1, max_size=6), st.lists(st.integers(0, 5), max_size=4))
def test_a_case_with_several_linked_reports_and_replays_never_loses_or_merges_a_referral(
    views: list[CaseView], replays: list[int]
) -> None:
    """Reports of one case routed in turn (some replayed after their state landed): each its own referrals."""
    state: CaseState | None = None
    made: dict[str, tuple[int, str]] = {}  # referral id → (report number, recipient)
    order = list(range(len(views))) + [r for r in replays if r < len(views)]
    for n in order:
        view = replace(views[n], case_id="case-x", report_id=f"r-{n}")
        own = {c.recipient.id for c in _gated(SHIPPED, view).recipients}
        decision, routed = _route(SHIPPED, view, state, linked=n > 0)
        got = {p.recipient_id for p in routed.referrals}
        assert got == {c.recipient.id for c in decision.recipients} and got >= own
        for p in routed.referrals:
            assert made.setdefault(p.referral_id, (n, p.recipient_id)) == (n, p.recipient_id), "ids never shared"
        state = routed.state
    assert state is not None
    assert set(state.holders) == {rid for _, rid in made.values()}


def test_a_case_s_holders_outlive_the_longest_a_linked_report_can_follow_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.intake.settings import IntakeSettings
    from services.routing.settings import RoutingSettings

    for name in ("ROUTING_LINKED_WINDOW_HOURS", "INTAKE_CORRELATION_WINDOW_HOURS"):
        monkeypatch.delenv(name, raising=False)
    assert RoutingSettings().linked_window_hours >= IntakeSettings().correlation_window_hours + 12
