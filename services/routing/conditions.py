"""What rules look at in a case (CaseView) and each `when` condition as a named predicate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from referral_domain import jurisdictions
from services.routing.model import Conditions


@dataclass(frozen=True)
class CaseView:
    """The fields of a case that rules may look at (no PII)."""

    case_id: str
    report_id: str
    category: str
    severity: str
    victim_minor: bool
    age_band: str
    consent: str
    consented_services: tuple[str, ...]
    victim_jurisdiction: str
    offender_country: str | None
    hosting_country: str | None
    platform: str | None
    preservation_requested: bool

    victim_country: str = field(init=False, compare=False)
    offender_abroad: bool = field(init=False, compare=False)
    hosting_abroad: bool = field(init=False, compare=False)
    offender_or_hosting_abroad: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # derived once per case: rules and the index read them many times
        self.__dict__.update(_derived(self.victim_jurisdiction, self.offender_country, self.hosting_country))

    @classmethod
    def from_case(cls, case: dict[str, Any]) -> CaseView:
        """From a decoded Case record (optional report fields may be absent)."""
        r = case["report"]
        offender = r.get("offender") or {}
        fields = dict(  # evaluated in the constructor call's order (the same first error for a malformed case)
            case_id=case["case_id"],
            report_id=r.get("report_id", case["case_id"]),
            category=r.get("category", "OTHER"),
            severity=r.get("severity", "UNKNOWN"),
            victim_minor=bool(r["victim"]["is_minor"]),
            age_band=r["victim"].get("age_band", "UNKNOWN"),
            consent=r.get("consent", "NOT_ASKED"),
            consented_services=tuple(r.get("consented_services") or ()),
            victim_jurisdiction=jurisdictions.normalise(r["victim"]["jurisdiction"]),
            offender_country=_code(offender.get("country")),
            hosting_country=_code(r.get("hosting_country")),
            platform=r.get("platform"),
            preservation_requested=bool(r.get("preservation_requested", False)),
        )
        # `cls(**fields)` without the frozen dataclass's setattr per field: the same object
        view = object.__new__(cls)
        view.__dict__.update(fields)
        view.__dict__.update(
            _derived(fields["victim_jurisdiction"], fields["offender_country"], fields["hosting_country"])
        )
        return view


def _derived(victim_jurisdiction: str, offender_country: str | None, hosting_country: str | None) -> dict[str, Any]:
    """CaseView's derived fields, in their declared order."""
    country = jurisdictions.country_of(victim_jurisdiction)
    offender = offender_country is not None and jurisdictions.country_of(offender_country) != country
    hosting = hosting_country is not None and jurisdictions.country_of(hosting_country) != country
    return {
        "victim_country": country,
        "offender_abroad": offender,
        "hosting_abroad": hosting,
        "offender_or_hosting_abroad": offender or hosting,
    }


def _code(value: str | None) -> str | None:
    return jurisdictions.normalise(value) if value else None


@dataclass(frozen=True)
class Condition:
    """One compiled condition: the field it reads, a readable description and its test."""

    field: str
    description: str
    test: Callable[[CaseView], bool]

    def actual(self, case: CaseView) -> Any:
        """The case's value of this condition's field (for `rules explain`)."""
        return getattr(case, self.field)


def _one(name: str, value: Any) -> Condition:
    if name == "victim_jurisdiction":
        codes = frozenset(value)
        return Condition(
            name,
            f"victim_jurisdiction in {sorted(codes)}",
            lambda c: c.victim_jurisdiction in codes or c.victim_country in codes,
        )
    if name == "platform":
        platforms = frozenset(p.lower() for p in value)
        return Condition(name, f"platform in {sorted(platforms)}", lambda c: (c.platform or "").lower() in platforms)
    if isinstance(value, bool):
        return Condition(name, f"{name} is {value}", lambda c: getattr(c, name) == value)
    allowed = frozenset(value)
    return Condition(name, f"{name} in {sorted(allowed)}", lambda c: getattr(c, name) in allowed)


def compile_conditions(cond: Conditions) -> tuple[Condition, ...]:
    """Each given condition as a Condition, in `Conditions` field order (`explain` reports the first that fails)."""
    return tuple(_one(name, getattr(cond, name)) for name in Conditions.model_fields if getattr(cond, name) is not None)
