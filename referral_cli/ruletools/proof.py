"""The proof behind `referral-bus rules check`: rules and directory against the safeguards, over every case.

Every case a valid report can make is routed by the rules as written (before the run-time gate) and
each recipient, the default, every fallback and every escalation chain to its end is checked. Values
the rules and safeguards cannot tell apart are grouped (e.g. categories no condition names, provinces
whose recipients look alike); one representative per group is routed, so the proof is exhaustive
and fast. Consented services are tried empty, one kind at a time and all kinds: the rules only take
their union, so a violation with any set shows with one of its kinds, and a missing kind with none.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import pycountry

from referral_domain import jurisdictions
from referral_domain.directory import Kind, Recipient
from referral_domain.safeguards import CaseCondition, Facts, Gate, Safeguards, is_loopback, transport_of
from referral_domain.vocabulary import AGE_BANDS, CATEGORIES, CONSENTS, MINOR_BANDS, SEVERITIES
from services.routing.conditions import CaseView
from services.routing.rules import RuleSet

KINDS: tuple[str, ...] = get_args(Kind)


@dataclass(frozen=True)
class Violation:
    """One case, one recipient, one safeguard broken, and the path that reached the recipient."""

    safeguard_id: str
    path: str
    recipient_id: str
    reason: str
    case: CaseView

    def describe(self) -> str:
        """The counter-example in an integrator's words."""
        c = self.case
        fields = [
            f"category={c.category}",
            f"severity={c.severity}",
            f"victim_minor={str(c.victim_minor).lower()}",
            f"age_band={c.age_band}",
            f"consent={c.consent}",
            f"consented_services=[{','.join(c.consented_services)}]",
            f"victim_jurisdiction={c.victim_jurisdiction}",
            f"offender_country={c.offender_country or '-'}",
            f"hosting_country={c.hosting_country or '-'}",
        ]
        if c.platform:
            fields.append(f"platform={c.platform}")
        if c.preservation_requested:
            fields.append("preservation_requested=true")
        return (
            f"safeguard {self.safeguard_id} broken via {self.path}: {self.recipient_id}: {self.reason}\n"
            f"  smallest counter-example: {' '.join(fields)}"
        )


@dataclass
class Proof:
    """What the proof enumerated and found."""

    cases: int = 0
    covered: int = 0
    seconds: float = 0.0
    violating_cases: int = 0
    smallest: dict[tuple[str, str], Violation] = field(default_factory=dict)

    @property
    def violations(self) -> list[Violation]:
        """The smallest counter-example of each (safeguard, path), in a stable order."""
        return [self.smallest[k] for k in sorted(self.smallest)]


def _size(c: CaseView) -> tuple[int, ...]:
    """How much a case says beyond the plainest case: smaller is a simpler counter-example."""
    return (
        (c.offender_country is not None) + (c.hosting_country is not None),
        len(c.consented_services),
        int(c.preservation_requested) + (c.platform is not None),
        int("-" in c.victim_jurisdiction),
        CATEGORIES.index(c.category) + SEVERITIES.index(c.severity),
    )


def check_case(ruleset: RuleSet, safeguards: Safeguards, case: CaseView) -> list[Violation]:
    """Every safeguard the rules, as written, break for this case (recipients, default, fallback, escalations)."""
    gate = Gate(safeguards, ruleset.directory)
    facts = facts_of(case)
    decision = ruleset.decide(case)
    out: list[Violation] = []
    for c in decision.recipients:
        path = "default recipient" if decision.unmatched else "fallback" if c.fallback else "rules"
        why = safeguards.refusal(facts, c.recipient)
        if why is not None:
            out.append(Violation(why.safeguard_id, path, c.recipient.id, why.reason, case))
        target = c.recipient.escalation_target or decision.escalation_target
        hops = [c.recipient.id]
        for rid in gate.chain(target):
            hops.append(rid)
            refused = gate.admit(facts, rid)
            if refused is not None:
                out.append(
                    Violation(refused.safeguard_id, "escalation " + " -> ".join(hops), rid, refused.reason, case)
                )
    for missing in safeguards.missing(facts, [c.recipient for c in decision.recipients]):
        path = "default recipient" if decision.unmatched else "rules"
        out.append(Violation(missing.safeguard_id, path, "(none)", missing.reason, case))
    return out


def facts_of(case: CaseView) -> Facts:
    """The safeguards' view of a routing case."""
    return Facts(
        case.victim_minor,
        case.consent,
        case.age_band,
        case.category,
        case.severity,
        frozenset(case.consented_services),
        case.victim_jurisdiction,
    )


def _classes(values: Sequence[str], signature: Callable[[str], Hashable]) -> list[list[str]]:
    """Values grouped by signature, groups and members in vocabulary order."""
    groups: dict[Hashable, list[str]] = {}
    for v in values:
        groups.setdefault(signature(v), []).append(v)
    return list(groups.values())


def valid_person(age_band: str, minor: bool, consent: str) -> bool:
    """The contract's coherence checks (intake refuses the rest)."""
    if age_band in MINOR_BANDS and not minor:
        return False
    if age_band == "ADULT" and minor:
        return False
    return not (consent == "NOT_REQUIRED_CHILD" and not minor)


class CaseSpace:
    """Every case a valid report can make, grouped into classes the rules and safeguards cannot tell apart."""

    def __init__(self, ruleset: RuleSet, safeguards: Safeguards) -> None:
        self.ruleset = ruleset
        self.safeguards = safeguards
        conds = [cr.rule.when for cr in ruleset.rules]
        guards: list[CaseCondition] = [
            *(s.when for s in safeguards.policy.never),
            *(s.when for s in safeguards.policy.always),
        ]

        def enum_sig(name: str) -> Callable[[str], Hashable]:
            lists = [getattr(c, name) for c in [*conds, *guards] if getattr(c, name) is not None]
            return lambda v: tuple(v in lst for lst in lists)

        self.categories = _classes(CATEGORIES, enum_sig("category"))
        self.severities = _classes(SEVERITIES, enum_sig("severity"))
        age_sig, consent_sig = enum_sig("age_band"), enum_sig("consent")
        self.people: dict[tuple[Hashable, ...], list[tuple[str, bool, str]]] = {}
        for age, minor, consent in itertools.product(AGE_BANDS, (False, True), CONSENTS):
            if valid_person(age, minor, consent):
                key = (age_sig(age), minor, consent_sig(consent))
                self.people.setdefault(key, []).append((age, minor, consent))
        platforms = sorted({p.lower() for c in conds for p in (c.platform or ())})
        self.platforms: list[str | None] = [None, *platforms]
        pres = [c.preservation_requested for c in conds if c.preservation_requested is not None]
        self.preservation = [False, True] if pres else [False]
        self.consented: list[tuple[str, ...]] = [(), *((k,) for k in KINDS), KINDS]
        self.countries = self._countries()
        self.places = self._places()

    def _countries(self) -> list[str]:
        """Every country the directory or the rules name, and one they do not (stands for all others)."""
        named = {
            jurisdictions.country_of(j) for r in self.ruleset.directory.recipients.values() for j in r.jurisdictions
        }
        for cr in self.ruleset.rules:
            named |= {jurisdictions.country_of(j) for j in cr.rule.when.victim_jurisdiction or ()}
        other = next(c.alpha_2 for c in sorted(pycountry.countries, key=lambda c: c.alpha_2) if c.alpha_2 not in named)
        return [*sorted(named), other]

    def _subdivisions(self, country: str) -> list[str]:
        if country == "VN":
            return sorted(jurisdictions.vn_units())
        found: Any = pycountry.subdivisions.get(country_code=country)  # type: ignore[no-untyped-call]  # pycountry is untyped
        return sorted(str(s.code) for s in found or ())

    def _recipient_sig(self, r: Recipient, seen: frozenset[str] = frozenset()) -> Hashable:
        channel, mode, host = transport_of(r)
        target = self.ruleset.directory.get(r.escalation_target) if r.escalation_target else None
        chain = None if target is None or target.id in seen else self._recipient_sig(target, seen | {r.id})
        return (r.kind, r.audience, r.data_profile, channel, mode, is_loopback(host), r.contact_point_24_7, chain)

    def _at_sig(self, code: str) -> Hashable:
        d = self.ruleset.directory
        out = []
        for kind in KINDS:
            here = d.at(kind, code)
            fallback = not here and "-" in code
            if fallback:
                here = d.at(kind, jurisdictions.country_of(code))
            out.append((fallback, tuple(sorted(map(str, (self._recipient_sig(r) for r in here))))))
        return tuple(out)

    def _places(self) -> list[list[str]]:
        """Victim jurisdictions grouped: same country, same rule conditions met, alike recipients."""
        lists = [cr.rule.when.victim_jurisdiction for cr in self.ruleset.rules if cr.rule.when.victim_jurisdiction]
        policy = self.safeguards.policy
        lists += [g.when.victim_jurisdiction for g in policy.never if g.when.victim_jurisdiction]
        lists += [g.when.victim_jurisdiction for g in policy.always if g.when.victim_jurisdiction]
        codes = [code for c in self.countries for code in (c, *self._subdivisions(c))]

        def sig(code: str) -> Hashable:
            country = jurisdictions.country_of(code)
            member = tuple(code in lst or country in lst for lst in lists if lst)
            return (country, member, self._at_sig(code))

        return _classes(codes, sig)

    def _abroad(self, victim_country: str) -> list[list[str]]:
        """Offender or hosting countries other than the victim's, grouped by the recipients they have."""
        return _classes([c for c in self.countries if c != victim_country], self._at_sig)

    def size(self) -> int:
        """How many distinct cases the classes stand for (all consented-service sets, named countries)."""
        people = sum(len(v) for v in self.people.values())
        places = sum(len(p) for p in self.places)
        places_ = 1 + len(self.countries)  # no country, or any named one (incl. the victim's own)
        total: int = (
            len(CATEGORIES)
            * len(SEVERITIES)
            * people
            * places
            * places_
            * places_
            * 2 ** len(KINDS)
            * len(self.platforms)
            * 2
        )
        return total

    def __iter__(self) -> Iterator[CaseView]:
        n = 0
        for place in self.places:
            victim = place[0]
            country = jurisdictions.country_of(victim)
            others: list[str | None] = [None, country, *(group[0] for group in self._abroad(country))]
            for cat, sev, person, off, host, cons, plat, pres in itertools.product(
                self.categories,
                self.severities,
                self.people.values(),
                others,
                others,
                self.consented,
                self.platforms,
                self.preservation,
            ):
                age, minor, consent = person[0]
                n += 1
                yield CaseView(
                    f"proof-{n}",
                    f"proof-{n}",
                    cat[0],
                    sev[0],
                    minor,
                    age,
                    consent,
                    cons,
                    victim,
                    off,
                    host,
                    plat,
                    pres,
                )


def prove(ruleset: RuleSet, safeguards: Safeguards) -> Proof:
    """Route every case class and keep the smallest counter-example of each (safeguard, path)."""
    start = time.perf_counter()
    space = CaseSpace(ruleset, safeguards)
    proof = Proof(covered=space.size())
    for case in space:
        proof.cases += 1
        found = check_case(ruleset, safeguards, case)
        if found:
            proof.violating_cases += 1
        for v in found:
            key = (v.safeguard_id, v.path.split(" ", 1)[0])
            best = proof.smallest.get(key)
            if best is None or _size(v.case) < _size(best.case):
                proof.smallest[key] = v
    proof.seconds = time.perf_counter() - start
    return proof


def describe(proof: Proof) -> list[str]:
    """The proof's report: every counter-example, then the figures."""
    lines = [v.describe() for v in proof.violations]
    verdict = "REFUSED" if proof.smallest else "hold"
    lines.append(
        f"safeguards {verdict}: {proof.cases:,} case classes routed (standing for {proof.covered:,} cases), "
        f"{proof.violating_cases:,} break a safeguard, {proof.seconds:.1f}s"
    )
    return lines
