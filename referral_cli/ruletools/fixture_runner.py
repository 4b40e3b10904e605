"""Fixture cases for rules, run like unit tests: a case, the recipients and priority expected.

A fixture file (YAML, config/fixtures/*.yaml) holds `cases:`, each with a `name`, a compact
`case` (only the fields rules look at) and `expect`: the exact set of recipient ids and the
priority, optionally the SLA, the fired rules, the recipients reached by fallback, the
unmatched flag, the preservation request and the escalation target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from referral_bus.errors import RulesError
from referral_domain import jurisdictions
from referral_domain.directory import Kind
from referral_domain.vocabulary import AgeBand, Category, Consent, Severity
from referral_domain.yamlfile import YamlDocument
from services.routing.conditions import CaseView
from services.routing.model import Duration, Priority, parse_duration
from services.routing.rules import Decision, RuleSet


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known(code: str | None) -> str | None:
    if code is not None and not jurisdictions.is_known(code):
        raise ValueError(f"unknown jurisdiction code {code!r}")
    return code


class VictimInput(_Model):
    """The victim fields rules look at."""

    is_minor: bool
    age_band: AgeBand = "UNKNOWN"
    jurisdiction: str

    @field_validator("jurisdiction")
    @classmethod
    def _code(cls, v: str) -> str:
        _known(v)
        return v


class OffenderInput(_Model):
    """The offender fields rules look at."""

    country: str | None = None

    @field_validator("country")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        return _known(v)


class CaseInput(_Model):
    """A case as rules see it; everything else of a report is irrelevant to routing."""

    case_id: str | None = None
    report_id: str | None = None
    category: Category = "OTHER"
    severity: Severity = "UNKNOWN"
    victim: VictimInput
    offender: OffenderInput | None = None
    hosting_country: str | None = None
    platform: str | None = None
    preservation_requested: bool = False
    consent: Consent = "NOT_ASKED"
    consented_services: list[Kind] = []

    @field_validator("hosting_country")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        return _known(v)

    def view(self, case_id: str) -> CaseView:
        """The CaseView routing decides on."""
        report = self.model_dump()
        report["report_id"] = self.report_id or self.case_id or case_id
        return CaseView.from_case({"case_id": self.case_id or case_id, "report": report})


_ROUTING_FIELDS = set(CaseInput.model_fields)


def view_from_json(obj: Any, default_id: str) -> CaseView:
    """A CaseView from a Case record (`case_id` + `report`) or a bare report, as JSON.

    Fields rules do not look at (narrative, contacts, hashes...) are ignored; the rest is validated.
    Raises ValueError naming the problem fields.
    """
    if not isinstance(obj, dict):
        raise ValueError("a case must be a JSON object")
    report = obj.get("report", obj)
    if not isinstance(report, dict):
        raise ValueError("report: must be a JSON object")
    picked = {k: v for k, v in report.items() if k in _ROUTING_FIELDS}
    if isinstance(picked.get("victim"), dict):
        picked["victim"] = {k: v for k, v in picked["victim"].items() if k in VictimInput.model_fields}
    if isinstance(picked.get("offender"), dict):
        picked["offender"] = {k: v for k, v in picked["offender"].items() if k in OffenderInput.model_fields}
    try:
        case = CaseInput.model_validate(picked)
    except ValidationError as exc:
        raise ValueError(
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_url=False, include_input=False)
            )
        ) from None
    case_id = obj.get("case_id") or report.get("report_id") or default_id
    return case.view(str(case_id))


class Expect(_Model):
    """What the rules must decide for the case."""

    recipients: Annotated[list[str], Field(description="Exactly these recipient ids (order does not matter).")]
    priority: Priority
    ack_sla: Duration | None = None
    rules: list[str] | None = Field(default=None, description="Exactly these rules fire.")
    fallbacks: list[str] | None = Field(
        default=None, description="Exactly these recipients were reached by province→national fallback."
    )
    unmatched: bool | None = None
    preservation_request: bool | None = None
    escalation_target: str | None = None


class Fixture(_Model):
    """One fixture case."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str = ""
    case: CaseInput
    expect: Expect


class FixtureFile(_Model):
    """A fixture file, for the published JSON Schema."""

    model_config = ConfigDict(title="referral-bus rule fixture cases", extra="forbid", frozen=True)

    cases: Annotated[list[Fixture], Field(min_length=1)]


@dataclass
class Located:
    """A fixture and where it is written."""

    fixture: Fixture
    where: str


def load_fixtures(paths: list[Path]) -> list[Located]:
    """Every fixture of the files (or of the *.yaml files in folders); all problems at once, with lines."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p])
    if not files:
        raise RulesError([f"{', '.join(map(str, paths))}: no fixture files (*.yaml) found"])
    problems: list[str] = []
    out: list[Located] = []
    names: dict[str, str] = {}
    for path in files:
        try:
            doc = YamlDocument(path)
        except RulesError as exc:
            problems.extend(exc.problems)
            continue
        cases = doc.data.get("cases") if isinstance(doc.data, dict) else None
        if not isinstance(cases, list):
            problems.append(f"{doc.where(())}: a fixture file needs a top-level 'cases:' list")
            continue
        for i, entry in enumerate(cases):
            name = entry.get("name") if isinstance(entry, dict) else None
            label = f"case {name}" if isinstance(name, str) else f"case #{i + 1}"
            try:
                fx = Fixture.model_validate(entry)
            except ValidationError as exc:
                problems.extend(doc.errors(exc, ("cases", i), label))
                continue
            where = doc.where(("cases", i, "name"))
            if fx.name in names:
                problems.append(f"{where}: {label}: name: duplicate (first at {names[fx.name]})")
                continue
            names[fx.name] = where
            out.append(Located(fx, where))
    if problems:
        raise RulesError(problems)
    return out


@dataclass
class Outcome:
    """The result of one fixture case."""

    located: Located
    decision: Decision
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.failures


def _set_diff(what: str, want: list[str], got: list[str]) -> list[str]:
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if not missing and not extra:
        return []
    return [f"{what}: missing {missing or '[]'}, unexpected {extra or '[]'}"]


def check(ruleset: RuleSet, located: Located) -> Outcome:
    """Decide the fixture's case and compare with what it expects."""
    fx = located.fixture
    decision = ruleset.decide(fx.case.view(fx.name))
    exp = fx.expect
    fails = _set_diff("recipients", exp.recipients, [c.recipient.id for c in decision.recipients])
    if exp.priority != decision.priority:
        fails.append(f"priority: expected {exp.priority}, got {decision.priority}")
    if exp.ack_sla is not None and parse_duration(exp.ack_sla) != decision.ack_sla_seconds:
        fails.append(f"ack_sla: expected {parse_duration(exp.ack_sla)}s, got {decision.ack_sla_seconds}s")
    if exp.rules is not None:
        fails.extend(_set_diff("rules", exp.rules, decision.matched_rules))
    if exp.fallbacks is not None:
        fails.extend(_set_diff("fallbacks", exp.fallbacks, [c.recipient.id for c in decision.recipients if c.fallback]))
    if exp.unmatched is not None and exp.unmatched != decision.unmatched:
        fails.append(f"unmatched: expected {exp.unmatched}, got {decision.unmatched}")
    if exp.preservation_request is not None and exp.preservation_request != decision.preservation_request:
        fails.append(f"preservation_request: expected {exp.preservation_request}, got {decision.preservation_request}")
    if exp.escalation_target is not None and exp.escalation_target != decision.escalation_target:
        fails.append(f"escalation_target: expected {exp.escalation_target}, got {decision.escalation_target}")
    return Outcome(located, decision, fails)


def run(ruleset: RuleSet, fixtures: list[Located]) -> tuple[list[Outcome], list[str]]:
    """Every outcome, and the ids of rules that no fixture case fired (untested rules)."""
    outcomes = [check(ruleset, lf) for lf in fixtures]
    fired = {rid for o in outcomes for rid in o.decision.matched_rules}
    untested = [cr.rule.id for cr in ruleset.rules if cr.rule.id not in fired]
    return outcomes, untested
