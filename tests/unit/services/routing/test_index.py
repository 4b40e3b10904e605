"""The bitset index fires exactly the rules that evaluating every rule fires, and decisions are identical."""

from __future__ import annotations

import dataclasses

from bench.bench_rules import generate_cases, load_generated
from referral_bus.settings import REPO_ROOT
from services.routing.index import bits
from services.routing.rules import load_rules

CONFIG = REPO_ROOT / "config"


def _summary(d):
    return (
        d.matched_rules,
        [(c.recipient.id, c.rule_ids, c.reason, c.fallback) for c in d.recipients],
        d.priority,
        d.ack_sla_seconds,
        d.escalation_target,
        d.preservation_request,
        d.unmatched,
        d.notes,
    )


def test_bits_in_order() -> None:
    assert list(bits(0)) == []
    assert list(bits(0b1011)) == [0, 1, 3]
    assert list(bits(1 << 999 | 1 << 5)) == [5, 999]


def test_index_equals_naive_on_shipped_rules() -> None:
    ruleset = load_rules(CONFIG / "recipients.yaml", CONFIG / "rules.yaml")
    for case in generate_cases(3000, seed=11):
        assert _summary(ruleset.decide(case)) == _summary(ruleset.decide(case, naive=True)), case


def test_index_equals_naive_on_generated_rules() -> None:
    ruleset, _ = load_generated(400, seed=3)
    cases = generate_cases(2000, seed=5)
    # also a few unusual values: lower-case platform, a foreign victim, unknown enum symbols from a newer schema
    cases += [
        dataclasses.replace(cases[0], platform="examplesocial"),
        dataclasses.replace(cases[1], victim_jurisdiction="TH", offender_country="TH"),
        dataclasses.replace(cases[2], category="NEW_CATEGORY", severity="NEW_SEVERITY"),
    ]
    for case in cases:
        assert [cr.rule.id for cr in ruleset.fired(case)] == [cr.rule.id for cr in ruleset.fired_naive(case)]
        assert _summary(ruleset.decide(case)) == _summary(ruleset.decide(case, naive=True))
