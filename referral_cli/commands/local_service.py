"""`start|stop|status` for a local process of the dev stack (the broker, the schema registry)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol


class LocalProcess(Protocol):
    """What a devstack module offers: start/stop return a line to print, status says whether it runs."""

    def start(self) -> str: ...  # noqa: D102 - documented on the protocol

    def stop(self) -> str: ...  # noqa: D102 - documented on the protocol

    def status(self) -> tuple[bool, str]: ...  # noqa: D102 - documented on the protocol


def _printing(action: Callable[[], str]) -> Callable[[argparse.Namespace], int]:
    def run(_: argparse.Namespace) -> int:
        print(action())
        return 0

    return run


def register_group(sub: Any, name: str, process: LocalProcess, *, help: str, start_help: str, stop_help: str) -> None:
    """Add the `<name> start|stop|status` group; `status` exits 3 when the process is not running."""

    def status(_: argparse.Namespace) -> int:
        running, text = process.status()
        print(text)
        return 0 if running else 3

    actions = sub.add_parser(name, help=help).add_subparsers(dest="action", required=True)
    actions.add_parser("start", help=start_help).set_defaults(func=_printing(process.start))
    actions.add_parser("stop", help=stop_help).set_defaults(func=_printing(process.stop))
    actions.add_parser("status", help="running or not (exit 3 when stopped)").set_defaults(func=status)
