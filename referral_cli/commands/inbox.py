"""`referral-bus inbox hash-password`: the value of the secret `inbox-password-<recipient>` (docs/inbox.md)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from referral_bus.errors import ConfigurationError
from services.inbox.passwords import ITERATIONS, MIN_ITERATIONS, hash_password

MIN_PASSWORD_CHARS = 12


def _hash(args: argparse.Namespace) -> int:
    """Read a password (prompted, or one line on standard input) and print its hash; the password is never shown."""
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigurationError(f"an inbox password needs at least {MIN_PASSWORD_CHARS} characters")
    if args.iterations < MIN_ITERATIONS:
        raise ConfigurationError(f"--iterations must be at least {MIN_ITERATIONS}")
    print(hash_password(password, iterations=args.iterations))
    return 0


def register(sub: Any) -> None:
    """Add the `inbox` group."""
    p = sub.add_parser("inbox", help="the inbox web page for recipients without a system of their own")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    h = actions.add_parser("hash-password", help="hash a password for the secret inbox-password-<recipient id>")
    h.add_argument("--iterations", type=int, default=ITERATIONS, help=f"PBKDF2 rounds (default {ITERATIONS})")
    h.set_defaults(func=_hash)
