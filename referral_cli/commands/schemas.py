"""`referral-bus schemas check`: fingerprints and backward compatibility of every contract."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from referral_bus.compatibility import check_all
from referral_bus.contracts import SCHEMA_DIR, load_contracts
from referral_cli.commands import add, arg, group


def _check(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    report = check_all(load_contracts(directory))
    print(f"contracts in {directory}")
    for line in report.lines:
        print(line)
    if report.errors:
        for err in report.errors:
            print(f"ERROR {err}")
        print(f"schemas: {len(report.errors)} error(s); see schemas/avro/README.md (evolution rules)")
        return 1
    print("schemas: OK (every current schema reads every earlier version; fingerprints unique)")
    return 0


def register(sub: Any) -> None:
    """Add the `schemas` group."""
    actions = group(sub, "schemas", "Avro contract checks")
    contracts = arg("--dir", default=str(SCHEMA_DIR), help="contracts directory (default: schemas/avro)")
    add(actions, "check", _check, "backward (transitive) compatibility and fingerprint registry", contracts)
