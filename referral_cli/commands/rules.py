"""`referral-bus rules check|test|explain|diff|schema`: integrators' tooling for the routing rules.

Every command reads the recipients directory and the rules file (defaults: ROUTING_DIRECTORY_PATH
and ROUTING_RULES_PATH, i.e. config/recipients.yaml and config/rules.yaml) and exits non-zero
on any problem, listing all of them as `file:line: rule <id>|recipient <id>: field: problem`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from referral_bus.errors import RulesError
from referral_bus.settings import config_file
from referral_cli.commands import add, arg, group
from services.routing.settings import RoutingSettings


def _defaults() -> tuple[Path, Path]:
    s = RoutingSettings()
    return s.directory_path, s.rules_path


def _load(directory: Path | None, rules: Path | None) -> Any:
    from services.routing.rules import load_rules

    d, r = _defaults()
    return load_rules(directory or d, rules or r)


def _problems(exc: RulesError) -> int:
    for p in exc.problems:
        print(p)
    print(f"{len(exc.problems)} error(s)")
    return 1


T = TypeVar("T")


def _load_with(args: argparse.Namespace, read: Callable[[], T]) -> tuple[Any, T] | int:
    """The rule set of `args` and what `read` returns; or, on a RulesError, its problems printed and exit code 1."""
    try:
        return _load(args.directory, args.rules), read()
    except RulesError as exc:
        return _problems(exc)


def _check(args: argparse.Namespace) -> int:
    from referral_bus.settings import SafeguardSettings
    from referral_cli.ruletools.proof import describe, prove
    from referral_domain.safeguards import load_safeguards

    settings = SafeguardSettings()
    loaded = _load_with(
        args,
        lambda: load_safeguards(
            args.safeguards or settings.safeguards_path, dev_insecure_transport=settings.dev_insecure_transport
        ),
    )
    if isinstance(loaded, int):
        return loaded
    ruleset, safeguards = loaded
    proof = prove(ruleset, safeguards)
    for line in describe(proof):
        print(line)
    if proof.violations:
        print(f"{len(proof.violations)} safeguard violation(s): the rules and directory are refused")
        return 1
    print(
        f"rules OK: {len(ruleset.directory.recipients)} recipients, {len(ruleset.rules)} rules, "
        f"version {ruleset.version}, safeguards {safeguards.version}"
    )
    return 0


def _test(args: argparse.Namespace) -> int:
    from referral_cli.ruletools.fixture_runner import load_fixtures, run

    loaded = _load_with(args, lambda: load_fixtures(args.paths))
    if isinstance(loaded, int):
        return loaded
    ruleset, fixtures = loaded
    outcomes, untested = run(ruleset, fixtures)
    failed = 0
    for o in outcomes:
        name = o.located.fixture.name
        if o.passed:
            print(f"PASS {name}")
        else:
            failed += 1
            print(f"FAIL {name}  ({o.located.where})")
            for f in o.failures:
                print(f"     {f}")
            if args.verbose:
                print(f"     fired: {', '.join(o.decision.matched_rules) or '-'}")
                for note in o.decision.notes:
                    print(f"     note: {note}")
    if untested:
        print(f"rules fired by no fixture case: {', '.join(untested)}")
    print(f"{len(outcomes) - failed} passed, {failed} failed, {len(outcomes)} cases, rules version {ruleset.version}")
    return 1 if failed or (untested and args.require_coverage) else 0


def _explain(args: argparse.Namespace) -> int:
    from referral_cli.ruletools.explain import explain, read_cases

    loaded = _load_with(args, lambda: read_cases(args.case))
    if isinstance(loaded, int):
        return loaded
    ruleset, cases = loaded
    for i, case in enumerate(cases):
        if i:
            print()
        print("\n".join(explain(ruleset, case)))
    return 0


def _rule_paths(paths: list[Path]) -> tuple[Path, Path]:
    """(directory, rules) from folders holding recipients.yaml/rules.yaml or files told apart by their top key."""
    directory, rules = _defaults()
    for p in paths:
        if p.is_dir():
            if (p / "recipients.yaml").exists():
                directory = p / "recipients.yaml"
            if (p / "rules.yaml").exists():
                rules = p / "rules.yaml"
            continue
        from referral_domain.yamlfile import YamlDocument

        data = YamlDocument(p).data
        if isinstance(data, dict) and "recipients" in data:
            directory = p
        else:
            rules = p
    return directory, rules


def _diff(args: argparse.Namespace) -> int:
    from referral_cli.ruletools.explain import diff, read_cases
    from services.routing.rules import load_rules

    try:
        old = load_rules(*_rule_paths(args.old))
        new = load_rules(*_rule_paths(args.new))
        cases = read_cases(args.cases)
    except RulesError as exc:
        return _problems(exc)
    changes = diff(old, new, cases)
    for ch in changes:
        print(ch.describe())
    print(f"{len(changes)} of {len(cases)} case(s) change (rules {old.version} → {new.version})")
    return 1 if changes and args.fail_on_change else 0


def _schema(args: argparse.Namespace) -> int:
    from referral_cli.ruletools import yaml_schemas

    if args.write:
        for path in yaml_schemas.write(args.write):
            print(f"wrote {path}")
    else:
        print(json.dumps({k: v for k, v in yaml_schemas.schemas().items()}, indent=2, ensure_ascii=False))
    return 0


def register(sub: Any) -> None:
    """Add the `rules` group."""
    actions = group(sub, "rules", "check, test, explain and diff routing rules")
    files = (
        arg("--directory", type=Path, help="recipients file (default: ROUTING_DIRECTORY_PATH)"),
        arg("--rules", type=Path, help="rules file (default: ROUTING_RULES_PATH)"),
    )
    safeguards = arg("--safeguards", type=Path, help="safeguards file (default: REFERRAL_BUS_SAFEGUARDS_PATH)")
    proves = "validate the directory and rules; prove them against the safeguards over every case"
    add(actions, "check", _check, proves, *files, safeguards)
    add(
        actions,
        "test",
        _test,
        "run fixture cases and print pass/fail per case",
        *files,
        arg("paths", nargs="*", type=Path, default=[config_file("fixtures")], help="fixture files or folders"),
        arg("-v", "--verbose", action="store_true", help="show fired rules and notes of failing cases"),
        arg("--require-coverage", action="store_true", help="fail when a rule is fired by no fixture case"),
    )
    case = arg("case", type=Path, help="a Case or CaseReport as JSON (or JSON Lines of them)")
    add(actions, "explain", _explain, "which rules fired, why the others did not, who gets the case", *files, case)
    add(
        actions,
        "diff",
        _diff,
        "cases whose recipients or priority change between two rule sets",
        arg(
            "--old", action="append", type=Path, required=True, help="folder or file of the current rules (repeatable)"
        ),
        arg(
            "--new", action="append", type=Path, required=True, help="folder or file of the proposed rules (repeatable)"
        ),
        arg("cases", type=Path, help="cases as JSON Lines (Case or CaseReport objects)"),
        arg("--fail-on-change", action="store_true", help="exit 1 when any case changes"),
    )
    write = arg("--write", type=Path, metavar="DIR", help="write *.schema.json into DIR (e.g. config/schema)")
    add(actions, "schema", _schema, "print or write the JSON Schemas of the YAML files", write)
