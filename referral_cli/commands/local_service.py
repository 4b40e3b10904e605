"""`start|stop|status` for a local process of the dev stack (the broker, the schema registry)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol

from referral_cli.commands import add, group


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

    actions = group(sub, name, help)
    add(actions, "start", _printing(process.start), start_help)
    add(actions, "stop", _printing(process.stop), stop_help)
    add(actions, "status", status, "running or not (exit 3 when stopped)")
