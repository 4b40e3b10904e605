"""`CaseView.from_case` builds exactly the view the dataclass's constructor builds (issue 17, helper hand)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_domain import jurisdictions
from services.routing.conditions import CaseView

_CODES = st.sampled_from(["VN", "vn-hn ", "VN-HN", "SG", " us", "VN-07", "TH-10", "", "-", "x-y-z", "É-1"])
_TEXT = st.text(max_size=12)


def built(case: dict[str, Any]) -> CaseView:
    """The former `from_case`: the dataclass's own constructor (and its __post_init__), arguments in the same order."""
    r = case["report"]
    offender = r.get("offender") or {}

    def code(value: str | None) -> str | None:
        return jurisdictions.normalise(value) if value else None

    return CaseView(
        case["case_id"], r.get("report_id", case["case_id"]), r.get("category", "OTHER"), r.get("severity", "UNKNOWN"),
        bool(r["victim"]["is_minor"]), r["victim"].get("age_band", "UNKNOWN"), r.get("consent", "NOT_ASKED"),
        tuple(r.get("consented_services") or ()), jurisdictions.normalise(r["victim"]["jurisdiction"]),
        code(offender.get("country")), code(r.get("hosting_country")), r.get("platform"),
        bool(r.get("preservation_requested", False)),
    )  # fmt: skip


def _optional(key: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """{key: value}, or nothing (an optional report field absent)."""
    return st.one_of(st.just({}), value.map(lambda v: {key: v}))


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    victim = {"is_minor": draw(st.booleans() | st.integers(0, 2)), "jurisdiction": draw(_CODES)}
    victim.update(draw(_optional("age_band", _TEXT)))
    report: dict[str, Any] = {"victim": victim}
    for key, value in (
        ("report_id", _TEXT),
        ("category", _TEXT),
        ("severity", _TEXT),
        ("consent", _TEXT),
        ("consented_services", st.none() | st.lists(_TEXT, max_size=3)),
        ("offender", st.none() | st.fixed_dictionaries({}, optional={"country": st.none() | _CODES})),
        ("hosting_country", st.none() | _CODES),
        ("platform", st.none() | _TEXT),
        ("preservation_requested", st.booleans() | st.none()),
    ):
        report.update(draw(_optional(key, value)))
    return {"case_id": draw(_TEXT), "report": report}


@given(cases())
def test_the_same_view_as_the_constructor(case: dict[str, Any]) -> None:
    fast, slow = CaseView.from_case(case), built(case)
    assert type(fast) is CaseView
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    assert list(vars(fast).items()) == list(vars(slow).items())  # derived fields too, in the same order


def outcome(make: Any, case: dict[str, Any]) -> Any:
    try:
        return make(case)
    except Exception as exc:  # the same first error is part of the claim
        return type(exc), str(exc)


@given(cases(), st.data())
def test_a_malformed_case_fails_with_the_constructors_first_error(case: dict[str, Any], data: st.DataObject) -> None:
    """What a Case decoded from Avro never is; still, the same error as before, not another one first."""
    report, victim = case["report"], case["report"]["victim"]
    places = [(case, "case_id"), (case, "report"), (report, "victim"), (victim, "is_minor"), (victim, "jurisdiction")]
    for where, key in data.draw(st.lists(st.sampled_from([*places, (report, "offender")]), min_size=1, max_size=3)):
        if data.draw(st.booleans()):
            where.pop(key, None)
        else:
            where[key] = data.draw(st.none() | st.integers() | st.just(["VN"]) | st.just({"country": 1}))
    assert outcome(CaseView.from_case, case) == outcome(built, case)


def test_the_view_stays_frozen_and_derives_as_the_constructor() -> None:
    case = {"case_id": "c", "report": {"victim": {"is_minor": True, "jurisdiction": "vn-hn"}, "hosting_country": "SG"}}
    view = CaseView.from_case(case)
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.category = "X"  # type: ignore[misc]  # the point: frozen
    assert (view.victim_country, view.offender_abroad, view.hosting_abroad) == ("VN", False, True)
    assert view.offender_or_hosting_abroad is True


def test_every_field_is_set() -> None:
    """A field added to CaseView but forgotten in `from_case` would be missing from the view."""
    view = CaseView.from_case({"case_id": "c", "report": {"victim": {"is_minor": False, "jurisdiction": "VN"}}})
    assert set(vars(view)) == {f.name for f in dataclasses.fields(CaseView)}
