"""CLI command groups, one module per `referral-bus` group; each exposes `register(subparsers)`.

A command is declared as data: `add(parent, name, run, help, arg(...), ...)`; a group of actions
(`referral-bus stats export|rebuild|report`) is `group(sub, name, help)`, to which each action is added.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Arg = tuple[tuple[str, ...], dict[str, Any]]


def arg(*flags: str, **options: Any) -> Arg:
    """One argument of a command: what `ArgumentParser.add_argument` takes."""
    return flags, options


def add(parent: Any, name: str, run: Callable[[argparse.Namespace], int], help: str, *args: Arg) -> None:
    """Add command (or action) `name` to a subparsers object: its arguments, and `run` to handle it."""
    p = parent.add_parser(name, help=help)
    for flags, options in args:
        p.add_argument(*flags, **options)
    p.set_defaults(func=run)


def group(sub: Any, name: str, help: str) -> Any:
    """Add command group `name`; its actions are `add`ed to what this returns."""
    return sub.add_parser(name, help=help).add_subparsers(dest="action", required=True, metavar="ACTION")
