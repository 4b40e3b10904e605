"""A bitset index over rules: which rules fire for a case without evaluating each rule.

Rule *i* is bit *i* of a Python int. For every condition field the index holds, per value, the
set of rules that accept that value (rules with no condition on the field accept every value).
The rules that fire are the AND of one such set per field, so a decision costs one dictionary
look-up and one AND per field, whatever the number of rules. The index is exact: every
condition in `Conditions` is indexed (checked when it is built), and a test compares it with
evaluating every rule on random cases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from referral_domain.vocabulary import AGE_BANDS, CATEGORIES, CONSENTS, SEVERITIES
from services.routing.conditions import CaseView
from services.routing.model import Conditions

_ENUM_FIELDS: dict[str, tuple[str, ...]] = {
    "category": CATEGORIES,
    "severity": SEVERITIES,
    "age_band": AGE_BANDS,
    "consent": CONSENTS,
}
_BOOL_FIELDS = (
    "victim_minor",
    "offender_abroad",
    "hosting_abroad",
    "offender_or_hosting_abroad",
    "preservation_requested",
)
_OPEN_FIELDS = ("victim_jurisdiction", "platform")
INDEXED = frozenset(_ENUM_FIELDS) | frozenset(_BOOL_FIELDS) | frozenset(_OPEN_FIELDS)


class _OpenSet:
    """Rules by listed value of an open-ended field, plus the rules that accept any value."""

    def __init__(self) -> None:
        self.any = 0
        self.by_value: dict[str, int] = {}

    def add(self, bit: int, values: Sequence[str] | None) -> None:
        if values is None:
            self.any |= bit
            return
        for v in values:
            self.by_value[v] = self.by_value.get(v, 0) | bit


class RuleIndex:
    """Bitsets per field and value; `matching(case)` is the bitmask of rules whose conditions all hold."""

    def __init__(self, conditions: Sequence[Conditions]) -> None:
        missing = set(Conditions.model_fields) - INDEXED
        if missing:  # a new condition field must be indexed, or the index would fire too many rules
            raise RuntimeError(f"condition field(s) {sorted(missing)} are not indexed in services/routing/index.py")
        self.size = len(conditions)
        self.all = (1 << self.size) - 1
        self._enum: dict[str, dict[str, int]] = {f: dict.fromkeys(values, 0) for f, values in _ENUM_FIELDS.items()}
        self._enum_any: dict[str, int] = dict.fromkeys(_ENUM_FIELDS, 0)
        self._bool: dict[str, tuple[int, int]] = {}
        jurisdiction, platform = _OpenSet(), _OpenSet()
        bools: dict[str, list[int]] = {f: [0, 0] for f in _BOOL_FIELDS}
        for i, cond in enumerate(conditions):
            bit = 1 << i
            for f in _ENUM_FIELDS:
                values: list[str] | None = getattr(cond, f)
                if values is None:
                    self._enum_any[f] |= bit
                else:
                    for v in values:
                        self._enum[f][v] |= bit
            for f in _BOOL_FIELDS:
                want: bool | None = getattr(cond, f)
                if want is None or want is False:
                    bools[f][0] |= bit
                if want is None or want is True:
                    bools[f][1] |= bit
            jurisdiction.add(bit, cond.victim_jurisdiction)
            platform.add(bit, [p.lower() for p in cond.platform] if cond.platform is not None else None)
        for f in _ENUM_FIELDS:
            anyv = self._enum_any[f]
            self._enum[f] = {v: m | anyv for v, m in self._enum[f].items()}
        self._bool = {f: (m[0], m[1]) for f, m in bools.items()}
        self._jurisdiction = jurisdiction
        self._platform = platform

    def candidates(self, code: str, country: str) -> int:
        """Bitmask of the rules whose victim_jurisdiction condition accepts `code` (of `country`)."""
        j = self._jurisdiction
        m = j.any | j.by_value.get(code, 0)
        if country != code:
            m |= j.by_value.get(country, 0)
        return m

    def for_jurisdiction(self, code: str, country: str) -> PlaceIndex:
        """The index restricted to the rules that can fire for a victim in `code`, renumbered from 0."""
        return PlaceIndex(self, self.candidates(code, country))

    def matching(self, case: CaseView) -> int:
        """Bitmask of the rules that fire for `case`."""
        enum = self._enum
        anyv = self._enum_any
        m = enum["category"].get(case.category, anyv["category"])
        m &= enum["severity"].get(case.severity, anyv["severity"])
        m &= enum["age_band"].get(case.age_band, anyv["age_band"])
        m &= enum["consent"].get(case.consent, anyv["consent"])
        if not m:
            return 0
        b = self._bool
        off, host = case.offender_abroad, case.hosting_abroad
        m &= b["victim_minor"][case.victim_minor]
        m &= b["offender_abroad"][off]
        m &= b["hosting_abroad"][host]
        m &= b["offender_or_hosting_abroad"][off or host]
        m &= b["preservation_requested"][case.preservation_requested]
        if not m:
            return 0
        j = self._jurisdiction
        code = case.victim_jurisdiction
        jm = j.any | j.by_value.get(code, 0)
        country = case.victim_country
        if country != code:
            jm |= j.by_value.get(country, 0)
        m &= jm
        p = self._platform
        m &= p.any | p.by_value.get((case.platform or "").lower(), 0)
        return m


class PlaceIndex:
    """The index for one victim jurisdiction: only the rules that jurisdiction can fire, numbered 0..n-1.

    Most rules name one province, so a province sees a few dozen of the file's rules: its masks are
    a few machine words instead of one bit per rule of the file, which makes every AND and the walk
    over the fired bits cheap. `positions[k]` is the file position of local rule k (ascending, so
    local order is file order); the jurisdiction condition is already applied by the choice of rules.
    """

    def __init__(self, index: RuleIndex, candidates: int) -> None:
        self.positions: tuple[int, ...] = tuple(bits(candidates))
        local = self.local
        enum = {f: {v: local(m) for v, m in by.items()} for f, by in index._enum.items()}
        enum_any = {f: local(m) for f, m in index._enum_any.items()}
        self._category, self._category_any = enum["category"], enum_any["category"]
        self._severity, self._severity_any = enum["severity"], enum_any["severity"]
        self._age_band, self._age_band_any = enum["age_band"], enum_any["age_band"]
        self._consent, self._consent_any = enum["consent"], enum_any["consent"]
        # the five boolean conditions folded into one table, indexed by
        # victim_minor·8 + offender_abroad·4 + hosting_abroad·2 + preservation_requested
        b = {f: (local(m0), local(m1)) for f, (m0, m1) in index._bool.items()}
        flags = []
        for i in range(16):
            minor, off, host, pres = bool(i & 8), bool(i & 4), bool(i & 2), bool(i & 1)
            flags.append(
                b["victim_minor"][minor]
                & b["offender_abroad"][off]
                & b["hosting_abroad"][host]
                & b["offender_or_hosting_abroad"][off or host]
                & b["preservation_requested"][pres]
            )
        self._flags = tuple(flags)
        self._platform_any = local(index._platform.any)
        self._platform = {p: local(m) | self._platform_any for p, m in index._platform.by_value.items()}

    def local(self, mask: int) -> int:
        """A file-wide rule mask restricted to this jurisdiction's rules, in local numbering."""
        out = 0
        for k, p in enumerate(self.positions):
            if mask >> p & 1:
                out |= 1 << k
        return out

    def matching(self, case: CaseView) -> int:
        """Local bitmask of the rules that fire for `case` (whose victim is in this jurisdiction)."""
        m = (
            self._category.get(case.category, self._category_any)
            & self._severity.get(case.severity, self._severity_any)
            & self._age_band.get(case.age_band, self._age_band_any)
            & self._consent.get(case.consent, self._consent_any)
        )
        if m:
            m &= self._flags[
                (8 if case.victim_minor else 0)
                | (4 if case.offender_abroad else 0)
                | (2 if case.hosting_abroad else 0)
                | (1 if case.preservation_requested else 0)
            ]
            if m:
                m &= self._platform.get((case.platform or "").lower(), self._platform_any)
        return m


def bits(mask: int) -> Iterator[int]:
    """Positions of the set bits of `mask`, lowest first (rule file order).

    Peels the lowest set bit off at a time: a handful of int operations per fired rule, whatever the
    mask's width (measured faster than scanning `bin(mask)` for sparse 1,000-rule masks).
    """
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low
