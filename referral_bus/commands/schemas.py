"""`referral-bus schemas check`: fingerprints and backward compatibility of every contract."""

from __future__ import annotations

import argparse
from typing import Any

from referral_bus.compat import check_all


def _check(_: argparse.Namespace) -> int:
    report = check_all()
    for line in report.lines:
        print(line)
    if report.errors:
        for err in report.errors:
            print(f"ERROR {err}")
        return 1
    print("schemas: OK")
    return 0


def register(sub: Any) -> None:
    """Add the `schemas` group."""
    p = sub.add_parser("schemas", help="Avro contract checks")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("check", help="backward (transitive) compatibility and fingerprint registry").set_defaults(
        func=_check
    )
