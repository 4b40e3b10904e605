"""Routing rules as data: load them whole or not at all, and decide who gets a case.

`decide` takes the union of the recipients of every fired rule, removes kinds excluded by a
rule, takes the most urgent priority and the shortest SLA. A case no rule routes is flagged
`unmatched` and goes to the file's default recipient (a child's case) or `default_recipient_adult`
(an adult's; none = held for the reporting agency, no referral). The safeguards gate comes after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from referral_bus.errors import RulesError
from referral_bus.settings import config_file
from referral_domain import jurisdictions
from referral_domain.directory import Directory, Recipient, file_hash, load_directory
from referral_domain.safeguards import Refusal
from referral_domain.yamlfile import YamlDocument
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
    escalation: str | None = None  # set by the safeguards gate: the first permitted target on the chain


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
    refused: list[tuple[str, Refusal]] = field(default_factory=list)  # (path, why) by the safeguards gate
    gated: bool = False


_Resolved = tuple[tuple[Recipient, ...], str, str | None]
_Entry = tuple[str, Recipient, str, str | None]  # recipient id, recipient, reason, fallback
_Contribution = tuple[str, tuple[_Entry, ...], tuple[str, ...]]  # rule id, its recipients, its notes
_Places = tuple[str, str | None, str | None, tuple[str, ...]]  # victim jurisdiction, offender, hosting, consented
_CACHE_LIMIT = 100_000
_PLACE_LIMIT = 10_000


class _Place:
    """Everything `decide` needs for victims in one jurisdiction, compiled once and kept with the RuleSet.

    `index` fires this jurisdiction's rules in local numbering; `items[k]` is local rule k's id, recipients
    and notes, resolved in advance when they depend on the victim's jurisdiction only (None otherwise:
    those are resolved per offender/hosting country and consent, in `other`). The per-rule actions are
    folded with local masks: the first level of `priorities` / `slas` that meets the fired mask wins.
    """

    __slots__ = ("escalations", "excluding", "index", "items", "other", "preserving", "priorities", "slas")

    def __init__(self, ruleset: RuleSet, jurisdiction: str) -> None:
        index = ruleset.index.for_jurisdiction(jurisdiction, jurisdictions.country_of(jurisdiction))
        rules = [ruleset.rules[p] for p in index.positions]
        places: _Places = (jurisdiction, None, None, ())
        self.index = index
        self.items: tuple[_Contribution | None, ...] = tuple(
            ruleset._contribution(cr, places) if cr.local else None for cr in rules
        )
        self.other: dict[tuple[str | None, str | None, tuple[str, ...]], dict[int, _Contribution]] = {}
        default_rank = PRIORITY_RANK[ruleset.file.default_priority]
        self.priorities = [
            (m, _PRIORITIES[rank - 1])
            for rank in range(1, default_rank)
            if (m := _mask([cr.priority_rank == rank for cr in rules]))
        ]
        slas = sorted({cr.sla_seconds for cr in rules if cr.sla_seconds is not None})
        self.slas = [(_mask([cr.sla_seconds == s for cr in rules]), s) for s in slas]
        self.escalations = _mask([cr.escalation_target is not None for cr in rules])
        self.preserving = _mask([cr.preservation_request for cr in rules])
        self.excluding = _mask([bool(cr.exclude_kinds) for cr in rules])


def _mask(flags: list[bool]) -> int:
    """Local bitmask with bit k set where flags[k] holds."""
    out = 0
    for k, flag in enumerate(flags):
        if flag:
            out |= 1 << k
    return out


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
        default = directory.get(header.default_recipient)
        assert default is not None  # checked at load
        self._default = default
        self._default_adult = directory.get(header.default_recipient_adult) if header.default_recipient_adult else None
        # (selector number, place, consented kinds) → resolved recipients: the directory never changes under a RuleSet
        self._resolved: dict[tuple[int, str, tuple[str, ...]], _Resolved] = {}
        # victim jurisdiction → its rules compiled for the decision loop (bounded: jurisdiction codes are finite)
        self._places: dict[str, _Place] = {}

    def fired(self, case: CaseView) -> list[CompiledRule]:
        """Rules whose every condition holds, in file order (from the index)."""
        rules = self.rules
        return [rules[i] for i in bits(self.index.matching(case))]

    def fired_naive(self, case: CaseView) -> list[CompiledRule]:
        """The same, by evaluating every rule: the reference and benchmark baseline."""
        return [cr for cr in self.rules if cr.first_failure(case) is None]

    def _resolve(self, sel: _Sel, places: _Places, *, cached: bool = True) -> _Resolved:
        if sel.fixed is not None:
            return sel.fixed
        at = sel.at
        place = places[0] if at == "victim_jurisdiction" else places[1] if at == "offender_country" else places[2]
        if place is None:
            return (), f"{at} unknown", None
        consented = places[3] if sel.consented_kinds else ()
        if not cached:
            return self._resolve_at(sel, place, consented)
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

    def _contribution(self, cr: CompiledRule, places: _Places, *, cached: bool = True) -> _Contribution:
        """The recipients one rule selects at these places, and notes on what it could not find."""
        entries: list[_Entry] = []
        notes: list[str] = []
        rid = cr.rule.id
        for sel in cr.selectors:
            found, reason, fallback = self._resolve(sel, places, cached=cached)
            if not found:
                notes.append(f"rule {rid}: no recipient for {reason}")
            if fallback:
                notes.append(f"rule {rid}: {fallback}")
            entries.extend((r.id, r, reason, fallback) for r in found)
        return rid, tuple(entries), tuple(notes)

    def decide(self, case: CaseView, *, naive: bool = False) -> Decision:
        """Route one case: union of the fired rules' recipients, minus exclusions; never empty.

        `naive=True` evaluates every rule and folds their actions one rule at a time with nothing cached
        (the reference implementation and benchmark baseline); the default uses the index and the
        per-jurisdiction compiled rules. Both give identical decisions (tests/unit/test_rules_index.py).
        """
        if naive:
            return self._decision_reference(self.fired_naive(case), case)
        vj = case.victim_jurisdiction
        place = self._places.get(vj)
        if place is None:
            if len(self._places) > _PLACE_LIMIT:
                self._places.clear()
            place = self._places[vj] = _Place(self, vj)
        fired = place.index.matching(case)
        if not fired:
            return self._unmatched(case, [], [], "no rule matched")
        items = place.items
        other: dict[int, _Contribution] | None = None
        matched: list[str] = []
        notes: list[str] = []
        chosen: dict[str, Chosen] = {}
        pick = chosen.get
        m = fired
        while m:
            low = m & -m
            k = low.bit_length() - 1
            m ^= low
            item = items[k]
            if item is None:
                if other is None:
                    key = (case.offender_country, case.hosting_country, case.consented_services)
                    other = place.other.get(key)
                    if other is None:
                        if len(place.other) > _PLACE_LIMIT:
                            place.other.clear()
                        other = place.other[key] = {}
                item = other.get(k)
                if item is None:
                    cr = self.rules[place.index.positions[k]]
                    item = other[k] = self._contribution(cr, (vj, *key))
            rid, entries, rule_notes = item
            matched.append(rid)
            if rule_notes:
                notes.extend(rule_notes)
            for rkey, r, reason, fallback in entries:
                c = pick(rkey)
                if c is None:
                    chosen[rkey] = Chosen(r, [rid], reason, fallback)
                else:
                    c.rule_ids.append(rid)
        excluding = fired & place.excluding
        if excluding:
            excluded: set[str] = set()
            positions = place.index.positions
            for k in bits(excluding):
                excluded |= self.rules[positions[k]].exclude_kinds
            _exclude(chosen, excluded, notes)
        if not chosen:
            return self._unmatched(case, matched, notes, "rules matched but chose no recipient", place, fired)
        priority, sla, escalation, preserve = self._actions(place, fired)
        return Decision(
            case.case_id,
            case.report_id,
            self.version,
            matched,
            list(chosen.values()),
            priority,
            sla,
            escalation,
            preserve,
            False,
            notes,
        )

    def _actions(self, place: _Place | None, fired: int) -> tuple[Priority, int, str | None, bool]:
        """Priority, SLA, escalation target and preservation request of the fired rules (local mask)."""
        if place is None or not fired:
            return self.file.default_priority, self.default_sla, None, False
        priority = self.file.default_priority
        for mask, p in place.priorities:
            if fired & mask:
                priority = p
                break
        sla = self.default_sla
        for mask, seconds in place.slas:
            if fired & mask:
                sla = seconds
                break
        escalation = None
        esc = fired & place.escalations
        if esc:
            first = (esc & -esc).bit_length() - 1
            escalation = self.rules[place.index.positions[first]].escalation_target
        return priority, sla, escalation, bool(fired & place.preserving)

    def _unmatched(
        self,
        case: CaseView,
        matched: list[str],
        notes: list[str],
        why: str,
        place: _Place | None = None,
        fired: int = 0,
    ) -> Decision:
        """The decision for a case no rule routes: the default recipient for its age, flagged (none: held)."""
        return Decision(
            case.case_id,
            case.report_id,
            self.version,
            matched,
            self._default_for(case, notes, why),
            *self._actions(place, fired),
            True,
            notes,
        )

    def _default_for(self, case: CaseView, notes: list[str], why: str) -> list[Chosen]:
        """The default recipient of an unmatched case (a child's, or an adult's when one is set), noted."""
        default = self._default if case.victim_minor else self._default_adult
        if default is None:
            notes.append(f"flagged: {why}; adult's case held for the reporting agency's follow-up (no default)")
            return []
        notes.append(f"flagged: {why}; default recipient {default.id} used")
        return [Chosen(default, [], f"default recipient: {why}")]

    def _decision_reference(self, fired: list[CompiledRule], case: CaseView) -> Decision:
        """The decision folded one fired rule at a time, resolving every selector afresh (no caches)."""
        chosen: dict[str, Chosen] = {}
        excluded: set[str] = set()
        notes: list[str] = []
        rank = PRIORITY_RANK[self.file.default_priority]
        sla: int | None = None
        escalation: str | None = None
        preservation = False
        places: _Places = (
            case.victim_jurisdiction,
            case.offender_country,
            case.hosting_country,
            case.consented_services,
        )
        for cr in fired:
            excluded |= cr.exclude_kinds
            rank = min(rank, cr.priority_rank)
            if cr.sla_seconds is not None and (sla is None or cr.sla_seconds < sla):
                sla = cr.sla_seconds
            if escalation is None:
                escalation = cr.escalation_target
            preservation = preservation or cr.preservation_request
            rid, entries, rule_notes = self._contribution(cr, places, cached=False)
            notes.extend(rule_notes)
            for key, r, reason, fallback in entries:
                if key in chosen:
                    chosen[key].rule_ids.append(rid)
                else:
                    chosen[key] = Chosen(r, [rid], reason, fallback)
        _exclude(chosen, excluded, notes)
        unmatched = not chosen
        if unmatched:
            why = "no rule matched" if not fired else "rules matched but chose no recipient"
            chosen.update((c.recipient.id, c) for c in self._default_for(case, notes, why))
        return Decision(
            case.case_id,
            case.report_id,
            self.version,
            [cr.rule.id for cr in fired],
            list(chosen.values()),
            _PRIORITIES[rank - 1],
            sla if sla is not None else self.default_sla,
            escalation,
            preservation,
            unmatched,
            notes,
        )


def _exclude(chosen: dict[str, Chosen], excluded: set[str], notes: list[str]) -> None:
    """Remove the recipients of excluded kinds (a safeguard rule fired), noting each."""
    if excluded:
        for gone in [k for k, c in chosen.items() if c.recipient.kind in excluded]:
            notes.append(f"{gone} excluded: kind {chosen[gone].recipient.kind} excluded by a safeguard rule")
            del chosen[gone]


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


def load_rules(directory_path: Path, rules_path: Path, profiles_path: Path | None = None) -> RuleSet:
    """Load both files whole or fail whole, naming every error with file, line, id and field.

    The version covers the recipients, the rules and the data profiles (`profiles_path`, by default
    config/profiles.yaml): changing what a recipient may see changes the version every decision records.
    """
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
    for key in ("default_recipient", "default_recipient_adult"):
        rid = getattr(header, key) if header is not None else None
        if rid is not None and directory is not None and directory.get(rid) is None:
            problems.append(f"{doc.where((key,), label='rules file')}: {key}: no recipient {rid!r} in the directory")
    if problems:
        raise RulesError(problems)
    assert directory is not None and header is not None
    profiles = profiles_path or config_file("profiles.yaml")
    versioned = (directory_path, rules_path, profiles) if profiles.is_file() else (directory_path, rules_path)
    return RuleSet(directory, header, rules, file_hash(*versioned))
