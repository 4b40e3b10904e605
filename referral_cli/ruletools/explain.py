"""Answers to "why did this case go there?" and "what would change with these new rules?"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from referral_bus.errors import RulesError
from referral_cli.ruletools.fixture_runner import view_from_json
from services.routing.conditions import CaseView
from services.routing.rules import Decision, RuleSet


def explain(ruleset: RuleSet, case: CaseView) -> list[str]:
    """Readable lines: every rule fired or the first condition that failed, then the outcome."""
    decision = ruleset.decide(case)
    fired = set(decision.matched_rules)
    lines = [f"case {case.case_id} (rules version {ruleset.version})", "rules:"]
    for cr in ruleset.rules:
        if cr.rule.id in fired:
            lines.append(f"  FIRED    {cr.rule.id}")
        else:
            failed = cr.first_failure(case)
            detail = f"{failed.description} (case: {failed.actual(case)!r})" if failed else "?"
            lines.append(f"  no       {cr.rule.id}: first failing condition: {detail}")
    lines.append("recipients:")
    for c in decision.recipients:
        via = f" [fallback: {c.fallback}]" if c.fallback else ""
        rules = ", ".join(c.rule_ids) or "-"
        lines.append(f"  {c.recipient.id} ({c.recipient.kind}) by {rules}: {c.reason}{via}")
    lines.append(
        f"priority {decision.priority}, ack SLA {decision.ack_sla_seconds}s, "
        f"escalation {decision.escalation_target or '-'}, preservation request {decision.preservation_request}"
        + (", UNMATCHED (default recipient, flagged)" if decision.unmatched else "")
    )
    if decision.notes:
        lines.append("notes:")
        lines.extend(f"  {n}" for n in decision.notes)
    return lines


def read_cases(path: Path) -> list[CaseView]:
    """Cases from a JSON file (one object or a list) or JSON Lines; every bad line is named."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError([f"{path}: cannot read: {exc.strerror}"]) from exc
    items: list[tuple[int, object]] = []
    problems: list[str] = []
    try:
        whole: object = json.loads(text)
    except json.JSONDecodeError:
        whole = None  # JSON Lines
    if isinstance(whole, list):
        items = [(i + 1, o) for i, o in enumerate(whole)]
    elif isinstance(whole, dict):
        items = [(1, whole)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((n, json.loads(line)))
                except json.JSONDecodeError as exc:
                    problems.append(f"{path}:{n}: invalid JSON: {exc.msg}")
    cases = []
    for n, obj in items:
        try:
            cases.append(view_from_json(obj, f"{path.stem}-{n}"))
        except ValueError as exc:
            problems.append(f"{path}:{n}: {exc}")
    if problems:
        raise RulesError(problems)
    return cases


@dataclass
class Change:
    """A case whose recipients or priority differ between two rule sets."""

    case_id: str
    old: Decision
    new: Decision

    def describe(self) -> str:
        """One readable line."""
        old_ids = {c.recipient.id for c in self.old.recipients}
        new_ids = {c.recipient.id for c in self.new.recipients}
        parts = []
        if old_ids - new_ids:
            parts.append(f"- {sorted(old_ids - new_ids)}")
        if new_ids - old_ids:
            parts.append(f"+ {sorted(new_ids - old_ids)}")
        if self.old.priority != self.new.priority:
            parts.append(f"priority {self.old.priority} → {self.new.priority}")
        return f"{self.case_id}: " + "; ".join(parts)


def diff(old: RuleSet, new: RuleSet, cases: list[CaseView]) -> list[Change]:
    """Every case whose recipients or priority change from `old` to `new`."""
    out = []
    for case in cases:
        a, b = old.decide(case), new.decide(case)
        if {c.recipient.id for c in a.recipients} != {c.recipient.id for c in b.recipients} or a.priority != b.priority:
            out.append(Change(case.case_id, a, b))
    return out
