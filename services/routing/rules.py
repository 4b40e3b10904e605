"""Routing rules as data: conditions on a case, actions that choose recipients, priority and SLA."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from referral_bus import jurisdictions
from referral_bus.directory import Directory, Kind, Recipient, file_hash, load_directory
from referral_bus.errors import RulesError
from referral_bus.yamlfile import YamlDocument

Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
Place = Literal["victim_jurisdiction", "offender_country", "hosting_country"]
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int) -> int:
    """Seconds from `90`, `15m`, `4h` or `2d`."""
    if isinstance(value, int):
        return value
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError(f"duration {value!r} must be seconds or a number followed by s, m, h or d")
    return int(m.group(1)) * _UNITS[m.group(2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Model):
    """All given conditions must hold (AND); a list means any of its values (OR)."""

    category: list[str] | None = None
    severity: list[str] | None = None
    victim_minor: bool | None = None
    age_band: list[str] | None = None
    consent: list[str] | None = None
    victim_jurisdiction: list[str] | None = None
    offender_abroad: bool | None = None
    hosting_abroad: bool | None = None
    offender_or_hosting_abroad: bool | None = None
    platform: list[str] | None = None
    preservation_requested: bool | None = None

    @field_validator("victim_jurisdiction")
    @classmethod
    def _codes(cls, codes: list[str] | None) -> list[str] | None:
        if codes:
            bad = [c for c in codes if not jurisdictions.is_known(c)]
            if bad:
                raise ValueError(f"unknown jurisdiction code(s) {', '.join(bad)}")
        return codes


class Selector(_Model):
    """Recipients by id, by kind at a place, or the kinds the survivor consented to at her jurisdiction."""

    id: str | None = None
    kind: Kind | None = None
    consented_kinds: bool = False
    at: Place = "victim_jurisdiction"

    @model_validator(mode="after")
    def _one(self) -> Selector:
        if sum([self.id is not None, self.kind is not None, self.consented_kinds]) != 1:
            raise ValueError("a recipient selector needs exactly one of id, kind or consented_kinds")
        return self


class Actions(_Model):
    """What a fired rule does."""

    recipients: list[Selector] = []
    exclude_kinds: list[Kind] = []
    priority: Priority | None = None
    ack_sla: str | int | None = None
    escalation_target: str | None = None
    preservation_request: bool = False

    @field_validator("ack_sla")
    @classmethod
    def _sla(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_duration(value)
        return value


class Rule(_Model):
    """One rule: id, description, `when` conditions and `then` actions."""

    id: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str
    when: Conditions = Conditions()
    then: Actions


_SEVERITIES = {"UNKNOWN", "LOW", "MEDIUM", "HIGH", "IMMINENT_DANGER"}
_CATEGORIES = {
    "OTHER",
    "CSAM",
    "GROOMING",
    "SEXTORTION",
    "LIVE_STREAMED_ABUSE",
    "TRAFFICKING",
    "NON_CONSENSUAL_INTIMATE_IMAGES",
    "SEXUAL_DEEPFAKE",
    "CYBERSTALKING",
    "HARASSMENT",
    "DOXXING",
}
_CONSENTS = {"NOT_ASKED", "GIVEN", "REFUSED", "NOT_REQUIRED_CHILD"}
_AGE_BANDS = {"UNKNOWN", "UNDER_13", "AGE_13_15", "AGE_16_17", "ADULT"}
_ENUMS = {"category": _CATEGORIES, "severity": _SEVERITIES, "consent": _CONSENTS, "age_band": _AGE_BANDS}


class RulesFile(_Model):
    """The whole rules file."""

    version: int = 1
    default_recipient: str
    default_priority: Priority = "P3"
    default_ack_sla: str | int = "24h"
    rules: Annotated[list[dict[str, Any]], Field(min_length=1)]


# ---------------------------------------------------------------- evaluation

Predicate = Callable[["CaseView"], bool]


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

    @property
    def victim_country(self) -> str:
        """Country part of the victim's jurisdiction."""
        return jurisdictions.country_of(self.victim_jurisdiction)

    @classmethod
    def from_case(cls, case: dict[str, Any]) -> CaseView:
        """From a decoded Case record."""
        r = case["report"]
        return cls(
            case_id=case["case_id"],
            report_id=r["report_id"],
            category=r["category"],
            severity=r["severity"],
            victim_minor=r["victim"]["is_minor"],
            age_band=r["victim"]["age_band"],
            consent=r["consent"],
            consented_services=tuple(r.get("consented_services") or ()),
            victim_jurisdiction=r["victim"]["jurisdiction"],
            offender_country=(r.get("offender") or {}).get("country"),
            hosting_country=r.get("hosting_country"),
            platform=r.get("platform"),
            preservation_requested=r.get("preservation_requested", False),
        )


def _abroad(country: str | None, case: CaseView) -> bool:
    return country is not None and country != case.victim_country


def _compile(cond: Conditions) -> list[tuple[str, Predicate]]:
    """Each given condition as (description, predicate), in a fixed order."""
    preds: list[tuple[str, Predicate]] = []
    if cond.category is not None:
        cats = frozenset(cond.category)
        preds.append((f"category in {sorted(cats)}", lambda c: c.category in cats))
    if cond.severity is not None:
        sevs = frozenset(cond.severity)
        preds.append((f"severity in {sorted(sevs)}", lambda c: c.severity in sevs))
    if cond.victim_minor is not None:
        minor = cond.victim_minor
        preds.append((f"victim_minor is {minor}", lambda c: c.victim_minor == minor))
    if cond.age_band is not None:
        bands = frozenset(cond.age_band)
        preds.append((f"age_band in {sorted(bands)}", lambda c: c.age_band in bands))
    if cond.consent is not None:
        consents = frozenset(cond.consent)
        preds.append((f"consent in {sorted(consents)}", lambda c: c.consent in consents))
    if cond.victim_jurisdiction is not None:
        codes = frozenset(jurisdictions.normalise(x) for x in cond.victim_jurisdiction)
        preds.append(
            (
                f"victim_jurisdiction in {sorted(codes)}",
                lambda c: c.victim_jurisdiction in codes or c.victim_country in codes,
            )
        )
    if cond.offender_abroad is not None:
        want = cond.offender_abroad
        preds.append((f"offender_abroad is {want}", lambda c: _abroad(c.offender_country, c) == want))
    if cond.hosting_abroad is not None:
        want_h = cond.hosting_abroad
        preds.append((f"hosting_abroad is {want_h}", lambda c: _abroad(c.hosting_country, c) == want_h))
    if cond.offender_or_hosting_abroad is not None:
        want_o = cond.offender_or_hosting_abroad
        preds.append(
            (
                f"offender_or_hosting_abroad is {want_o}",
                lambda c: (_abroad(c.offender_country, c) or _abroad(c.hosting_country, c)) == want_o,
            )
        )
    if cond.platform is not None:
        platforms = frozenset(p.lower() for p in cond.platform)
        preds.append((f"platform in {sorted(platforms)}", lambda c: (c.platform or "").lower() in platforms))
    if cond.preservation_requested is not None:
        pres = cond.preservation_requested
        preds.append((f"preservation_requested is {pres}", lambda c: c.preservation_requested == pres))
    return preds


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its predicates compiled."""

    rule: Rule
    predicates: tuple[tuple[str, Predicate], ...]
    sla_seconds: int | None

    def first_failure(self, case: CaseView) -> str | None:
        """The first condition that does not hold, or None when the rule fires."""
        for description, pred in self.predicates:
            if not pred(case):
                return description
        return None


@dataclass
class Chosen:
    """A recipient chosen for a case and why."""

    recipient: Recipient
    rule_ids: list[str]
    reason: str
    fallback: str | None = None


@dataclass
class Decision:
    """The outcome of routing one case."""

    case_id: str
    report_id: str
    rules_version: str
    matched_rules: list[str]
    recipients: list[Chosen]
    priority: Priority
    ack_sla_seconds: int
    escalation_target: str | None
    preservation_request: bool
    unmatched: bool
    notes: list[str] = field(default_factory=list)


class RuleSet:
    """A directory and compiled rules; `decide` routes one case."""

    def __init__(self, directory: Directory, rules_file: RulesFile, rules: list[Rule], version: str) -> None:
        self.directory = directory
        self.file = rules_file
        self.version = version
        self.rules = [CompiledRule(r, tuple(_compile(r.when)), _sla(r.then.ack_sla)) for r in rules]
        self.default_sla = parse_duration(rules_file.default_ack_sla)
        # Index: category → candidate rules (rules without a category condition apply to all).
        self._by_category: dict[str, list[CompiledRule]] = {}
        for cat in _CATEGORIES:
            self._by_category[cat] = [
                cr for cr in self.rules if cr.rule.when.category is None or cat in cr.rule.when.category
            ]

    def candidates(self, case: CaseView) -> list[CompiledRule]:
        """Rules that may fire for this case, in file order."""
        return self._by_category.get(case.category, self.rules)

    def fired(self, case: CaseView) -> list[CompiledRule]:
        """Rules whose every condition holds."""
        return [cr for cr in self.candidates(case) if cr.first_failure(case) is None]

    def _resolve(self, sel: Selector, case: CaseView) -> tuple[list[Recipient], str, str | None]:
        if sel.id is not None:
            r = self.directory.get(sel.id)
            return ([r] if r else []), f"named by id {sel.id}", None
        place = {
            "victim_jurisdiction": case.victim_jurisdiction,
            "offender_country": case.offender_country,
            "hosting_country": case.hosting_country,
        }[sel.at]
        if place is None:
            return [], f"{sel.at} unknown", None
        kinds: list[str] = list(case.consented_services) if sel.consented_kinds else [sel.kind or ""]
        found: list[Recipient] = []
        fallback: str | None = None
        for kind in kinds:
            here = self.directory.at(kind, place)
            if kind == "international_partner":
                here = [r for r in here if r.contact_point_24_7] or here
            if not here and "-" in place:
                country = jurisdictions.country_of(place)
                here = self.directory.at(kind, country)
                if here:
                    fallback = f"no {kind} at {place}; national {kind} of {country} used"
            found.extend(here)
        label = "consented kinds" if sel.consented_kinds else sel.kind
        return found, f"{label} at {sel.at} {place}", fallback

    def decide(self, case: CaseView) -> Decision:
        """Route one case: union of the fired rules' recipients, minus exclusions; never empty."""
        fired = self.fired(case)
        chosen: dict[str, Chosen] = {}
        excluded: set[str] = set()
        notes: list[str] = []
        priority: Priority = self.file.default_priority
        sla: int | None = None
        escalation: str | None = None
        preservation = False
        for cr in fired:
            act = cr.rule.then
            excluded.update(act.exclude_kinds)
            if act.priority and PRIORITY_RANK[act.priority] < PRIORITY_RANK[priority]:
                priority = act.priority
            if cr.sla_seconds is not None:
                sla = cr.sla_seconds if sla is None else min(sla, cr.sla_seconds)
            escalation = escalation or act.escalation_target
            preservation = preservation or act.preservation_request
            for sel in act.recipients:
                found, reason, fallback = self._resolve(sel, case)
                if not found:
                    notes.append(f"rule {cr.rule.id}: no recipient for {reason}")
                if fallback:
                    notes.append(f"rule {cr.rule.id}: {fallback}")
                for r in found:
                    if r.id in chosen:
                        chosen[r.id].rule_ids.append(cr.rule.id)
                    else:
                        chosen[r.id] = Chosen(r, [cr.rule.id], reason, fallback)
        for rid in [rid for rid, c in chosen.items() if c.recipient.kind in excluded]:
            notes.append(f"{rid} excluded: kind {chosen[rid].recipient.kind} excluded by a safeguard rule")
            del chosen[rid]
        unmatched = not chosen
        if unmatched:
            default = self.directory.get(self.file.default_recipient)
            assert default is not None  # checked at load
            why = "no rule matched" if not fired else "rules matched but chose no recipient"
            chosen[default.id] = Chosen(default, [], f"default recipient: {why}")
            notes.append(f"flagged: {why}; default recipient {default.id} used")
        return Decision(
            case_id=case.case_id,
            report_id=case.report_id,
            rules_version=self.version,
            matched_rules=[cr.rule.id for cr in fired],
            recipients=list(chosen.values()),
            priority=priority,
            ack_sla_seconds=sla if sla is not None else self.default_sla,
            escalation_target=escalation,
            preservation_request=preservation,
            unmatched=unmatched,
            notes=notes,
        )


def _sla(value: str | int | None) -> int | None:
    return None if value is None else parse_duration(value)


def load_rules(directory_path: Path, rules_path: Path) -> RuleSet:
    """Load both files whole or fail whole, naming every error with file, line, id and field."""
    problems: list[str] = []
    directory: Directory | None = None
    try:
        directory = load_directory(directory_path)
    except RulesError as exc:
        problems.extend(exc.problems)
    try:
        doc = YamlDocument(rules_path)
    except RulesError as exc:
        raise RulesError(problems + exc.problems) from None
    try:
        rules_file = RulesFile.model_validate(doc.data)
    except ValidationError as exc:
        raise RulesError(problems + doc.errors(exc, (), "rules file")) from None
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(rules_file.rules):
        label = f"rule {entry.get('id', f'#{i + 1}')}"
        try:
            rule = Rule.model_validate(entry)
        except ValidationError as exc:
            problems.extend(doc.errors(exc, ("rules", i), label))
            continue
        where = doc.where(("rules", i), label=label)
        if rule.id in seen:
            problems.append(f"{where}: id: duplicate rule id (first on line {seen[rule.id]})")
        seen[rule.id] = doc.line(("rules", i))
        for key, allowed in _ENUMS.items():
            for value in getattr(rule.when, key) or ():
                if value not in allowed:
                    problems.append(
                        f"{doc.where(('rules', i, 'when', key), label=label)}: when.{key}: "
                        f"{value!r} is not one of {', '.join(sorted(allowed))}"
                    )
        if directory is not None:
            for j, sel in enumerate(rule.then.recipients):
                if sel.id is not None and directory.get(sel.id) is None:
                    problems.append(
                        f"{doc.where(('rules', i, 'then', 'recipients', j), label=label)}: "
                        f"then.recipients[{j}].id: no recipient {sel.id!r} in the directory"
                    )
            target = rule.then.escalation_target
            if target is not None and directory.get(target) is None:
                problems.append(
                    f"{doc.where(('rules', i, 'then', 'escalation_target'), label=label)}: "
                    f"then.escalation_target: no recipient {target!r} in the directory"
                )
        rules.append(rule)
    if directory is not None and directory.get(rules_file.default_recipient) is None:
        problems.append(
            f"{doc.where(('default_recipient',))}: default_recipient: no recipient "
            f"{rules_file.default_recipient!r} in the directory"
        )
    if problems:
        raise RulesError(problems)
    assert directory is not None
    return RuleSet(directory, rules_file, rules, file_hash(directory_path, rules_path))
