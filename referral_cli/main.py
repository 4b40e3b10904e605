"""`referral-bus`: the command line for developers, integrators and SRE staff."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from referral_bus.errors import ReferralBusError

GROUPS = (
    "broker",
    "registry",
    "produce",
    "schemas",
    "deadletter",
    "rules",
    "referrals",
    "trace",
    "stats",
    "status",
    "inbox",
    "audit",
    "erase",
)


def parser() -> argparse.ArgumentParser:
    """The argument parser with every command group registered."""
    p = argparse.ArgumentParser(prog="referral-bus", description="Referral bus tooling.")
    sub = p.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for name in GROUPS:
        try:
            module = importlib.import_module(f"referral_cli.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"referral_cli.commands.{name}":
                continue
            raise
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; our own errors print as one readable message and exit 1."""
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ReferralBusError as exc:
        print(f"referral-bus: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
