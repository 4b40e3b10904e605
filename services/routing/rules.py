"""Routing rules as data: load them whole or not at all, and decide who gets a case.

`decide` takes the union of the recipients of every fired rule, removes kinds excluded by a
safeguard rule, takes the most urgent priority and the shortest SLA, and never returns an empty
list: a case no rule routes goes to the file's default recipient and is flagged `unmatched`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from referral_bus import jurisdictions
from referral_bus.directory import Directory, Recipient, file_hash, load_directory
from referral_bus.errors import RulesError
from referral_bus.yamlfile import YamlDocument
from services.routing.conditions import CaseView, Condition, compile_conditions
from services.routing.index import RuleIndex, bits
from services.routing.model import (
    PRIORITY_RANK,
    Priority,
    Rule,
    RulesHeader,
    parse_duration,
)

__all__ = ["CaseView", "Chosen", "CompiledRule", "Decision", "RuleSet", "load_rules", "parse_duration"]


@dataclass(frozen=True, slots=True)
class _Sel:
    """A recipient selector compiled to plain fields; `n` numbers it for the resolution cache."""

    n: int
    id: str | None
    kind: str | None
    consented_kinds: bool
    at: str
    fixed: tuple[tuple[Recipient, ...], str, str | None] | None = None


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its conditions compiled and its actions flattened for the decision loop."""

    rule: Rule
    conditions: tuple[Condition, ...]
    sla_seconds: int | None
    selectors: tuple[_Sel, ...] = ()
    exclude_kinds: frozenset[str] = frozenset()
    priority_rank: int = 99
    position: int = 0
    escalation_target: str | None = None
    preservation_request: bool = False
    local: bool = True  # its recipients depend on the victim's jurisdiction only (cache key)

    def first_failure(self, case: CaseView) -> Condition | None:
        """The first condition that does not hold, or None when the rule fires."""
        for cond in self.conditions:
            if not cond.test(case):
                return cond
        return None


@dataclass(slots=True)
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


_Resolved = tuple[tuple[Recipient, ...], str, str | None]
_Contribution = tuple[tuple[tuple[str, Recipient, str, str | None], ...], tuple[str, ...]]
_CACHE_LIMIT = 100_000


class RuleSet:
    """A directory and compiled, indexed rules; `decide` routes one case."""

    def __init__(self, directory: Directory, header: RulesHeader, rules: list[Rule], version: str) -> None:
        self.directory = directory
        self.file = header
        self.version = version
        n = 0
        compiled: list[CompiledRule] = []
        for r in rules:
            sels = []
            for sel in r.then.recipients:
                fixed = None
                if sel.id is not None:
                    found = directory.get(sel.id)
                    fixed = ((found,) if found else ()), f"named by id {sel.id}", None
                sels.append(_Sel(n, sel.id, sel.kind, sel.consented_kinds, sel.at, fixed))
                n += 1
            compiled.append(
                CompiledRule(
                    r,
                    compile_conditions(r.when),
                    _sla(r.then.ack_sla),
                    tuple(sels),
                    frozenset(r.then.exclude_kinds),
                    PRIORITY_RANK[r.then.priority] if r.then.priority else 99,
                    len(compiled),
                    r.then.escalation_target,
                    r.then.preservation_request,
                    all(x.id is not None or (x.at == "victim_jurisdiction" and not x.consented_kinds) for x in sels),
                )
            )
        self.rules = compiled
        self.default_sla = parse_duration(header.default_ack_sla)
        self.index = RuleIndex([r.when for r in rules])
        self._resolved: dict[tuple[int, str, tuple[str, ...]], _Resolved] = {}
        # per place key → rule position → that rule's recipients and notes, so that a rule is resolved once per
        # place: the victim's jurisdiction for "local" rules, else (jurisdiction, offender and hosting country,
        # consented kinds)
        self._contrib: dict[Any, dict[int, _Contribution]] = {}

    def fired(self, case: CaseView) -> list[CompiledRule]:
        """Rules whose every condition holds, in file order (from the index)."""
        rules = self.rules
        return [rules[i] for i in bits(self.index.matching(case))]

    def fired_naive(self, case: CaseView) -> list[CompiledRule]:
        """The same, by evaluating every rule: the reference and benchmark baseline."""
        return [cr for cr in self.rules if cr.first_failure(case) is None]

    def _resolve(self, sel: _Sel, case: CaseView) -> _Resolved:
        if sel.fixed is not None:
            return sel.fixed
        at = sel.at
        place = (
            case.victim_jurisdiction
            if at == "victim_jurisdiction"
            else case.offender_country
            if at == "offender_country"
            else case.hosting_country
        )
        if place is None:
            return (), f"{at} unknown", None
        consented = case.consented_services if sel.consented_kinds else ()
        key = (sel.n, place, consented)
        hit = self._resolved.get(key)
        if hit is None:
            hit = self._resolve_at(sel, place, consented)
            if len(self._resolved) > _CACHE_LIMIT:
                self._resolved.clear()
            self._resolved[key] = hit
        return hit

    def _resolve_at(self, sel: _Sel, place: str, consented: tuple[str, ...]) -> _Resolved:
        kinds: list[str] = list(consented) if sel.consented_kinds else [sel.kind or ""]
        found: list[Recipient] = []
        fallbacks: list[str] = []
        for kind in kinds:
            here = self.directory.at(kind, place)
            if kind == "international_partner":
                here = [r for r in here if r.contact_point_24_7] or here
            if not here and "-" in place:
                country = jurisdictions.country_of(place)
                here = self.directory.at(kind, country)
                if here:
                    fallbacks.append(f"no {kind} at {place}; national {kind} of {country} used")
            found.extend(here)
        label = "consented kinds" if sel.consented_kinds else str(sel.kind)
        return tuple(found), f"{label} at {sel.at} {place}", "; ".join(fallbacks) or None

    def decide(self, case: CaseView, *, naive: bool = False) -> Decision:
        """Route one case: union of the fired rules' recipients, minus exclusions; never empty.

        `naive=True` evaluates every rule instead of using the index (the reference and benchmark baseline).
        """
        rules = self.rules
        fired = self.fired_naive(case) if naive else [rules[i] for i in bits(self.index.matching(case))]
        return self._decision(fired, case)

    def _contribution(self, cr: CompiledRule, case: CaseView) -> _Contribution:
        """The recipients one rule selects for this case's places, and notes on what it could not find."""
        entries: list[tuple[str, Recipient, str, str | None]] = []
        notes: list[str] = []
        rid = cr.rule.id
        for sel in cr.selectors:
            found, reason, fallback = self._resolve(sel, case)
            if not found:
                notes.append(f"rule {rid}: no recipient for {reason}")
            if fallback:
                notes.append(f"rule {rid}: {fallback}")
            entries.extend((r.id, r, reason, fallback) for r in found)
        return tuple(entries), tuple(notes)

    def _per_place(self, place: Any) -> dict[int, _Contribution]:
        per = self._contrib.get(place)
        if per is None:
            if len(self._contrib) > _CACHE_LIMIT // 10:
                self._contrib.clear()
            per = self._contrib[place] = {}
        return per

    def _decision(self, fired: list[CompiledRule], case: CaseView) -> Decision:
        chosen: dict[str, Chosen] = {}
        excluded: set[str] = set()
        notes: list[str] = []
        rank = PRIORITY_RANK[self.file.default_priority]
        sla: int | None = None
        escalation: str | None = None
        preservation = False
        local = self._per_place(case.victim_jurisdiction)
        full: dict[int, _Contribution] | None = None
        pick = chosen.get
        for cr in fired:
            if cr.exclude_kinds:
                excluded |= cr.exclude_kinds
            if cr.priority_rank < rank:
                rank = cr.priority_rank
            cr_sla = cr.sla_seconds
            if cr_sla is not None and (sla is None or cr_sla < sla):
                sla = cr_sla
            if escalation is None:
                escalation = cr.escalation_target
            if cr.preservation_request:
                preservation = True
            if cr.local:
                per = local
            else:
                if full is None:
                    full = self._per_place(
                        (case.victim_jurisdiction, case.offender_country, case.hosting_country, case.consented_services)
                    )
                per = full
            contrib = per.get(cr.position)
            if contrib is None:
                contrib = per[cr.position] = self._contribution(cr, case)
            entries, rule_notes = contrib
            if rule_notes:
                notes.extend(rule_notes)
            rid = cr.rule.id
            for key, r, reason, fallback in entries:
                c = pick(key)
                if c is not None:
                    c.rule_ids.append(rid)
                else:
                    chosen[key] = Chosen(r, [rid], reason, fallback)
        if excluded:
            for gone in [k for k, c in chosen.items() if c.recipient.kind in excluded]:
                notes.append(f"{gone} excluded: kind {chosen[gone].recipient.kind} excluded by a safeguard rule")
                del chosen[gone]
        unmatched = not chosen
        if unmatched:
            default = self.directory.get(self.file.default_recipient)
            assert default is not None  # checked at load
            why = "no rule matched" if not fired else "rules matched but chose no recipient"
            chosen[default.id] = Chosen(default, [], f"default recipient: {why}")
            notes.append(f"flagged: {why}; default recipient {default.id} used")
        return Decision(
            case.case_id,
            case.report_id,
            self.version,
            [cr.rule.id for cr in fired],
            list(chosen.values()),
            _PRIORITIES[rank - 1] if rank <= 4 else self.file.default_priority,
            sla if sla is not None else self.default_sla,
            escalation,
            preservation,
            unmatched,
            notes,
        )


_PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")


def _sla(value: str | int | None) -> int | None:
    return None if value is None else parse_duration(value)


def _rule_label(entry: Any, i: int) -> str:
    rid = entry.get("id") if isinstance(entry, dict) else None
    return f"rule {rid}" if isinstance(rid, str) and rid else f"rule #{i + 1}"


def _check_rule_refs(doc: YamlDocument, i: int, label: str, rule: Rule, directory: Directory) -> list[str]:
    problems = []
    for j, sel in enumerate(rule.then.recipients):
        if sel.id is not None and directory.get(sel.id) is None:
            problems.append(
                f"{doc.where(('rules', i, 'then', 'recipients', j, 'id'), label=label)}: "
                f"then.recipients.{j}.id: no recipient {sel.id!r} in the directory"
            )
    target = rule.then.escalation_target
    if target is not None and directory.get(target) is None:
        problems.append(
            f"{doc.where(('rules', i, 'then', 'escalation_target'), label=label)}: "
            f"then.escalation_target: no recipient {target!r} in the directory"
        )
    return problems


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
    data: Any = doc.data
    if not isinstance(data, dict):
        raise RulesError([*problems, f"{doc.where(())}: a rules file needs top-level keys default_recipient and rules"])
    header: RulesHeader | None = None
    try:
        header = RulesHeader.model_validate(data)
    except ValidationError as exc:
        problems.extend(doc.errors(exc, (), "rules file"))
    raw_rules = data.get("rules")
    entries: list[Any] = raw_rules if isinstance(raw_rules, list) else []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        label = _rule_label(entry, i)
        raw_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(raw_id, str):
            if raw_id in seen:
                problems.append(
                    f"{doc.where(('rules', i, 'id'), label=label)}: id: "
                    f"duplicate rule id (first on line {seen[raw_id]})"
                )
            else:
                seen[raw_id] = doc.line(("rules", i, "id"))
        try:
            rule = Rule.model_validate(entry)
        except ValidationError as exc:
            problems.extend(doc.errors(exc, ("rules", i), label))
            continue
        if directory is not None:
            problems.extend(_check_rule_refs(doc, i, label, rule, directory))
        rules.append(rule)
    if header is not None and directory is not None and directory.get(header.default_recipient) is None:
        problems.append(
            f"{doc.where(('default_recipient',), label='rules file')}: default_recipient: no recipient "
            f"{header.default_recipient!r} in the directory"
        )
    if problems:
        raise RulesError(problems)
    assert directory is not None and header is not None
    return RuleSet(directory, header, rules, file_hash(directory_path, rules_path))
