"""`referral-bus registry start|stop|status`: the local Confluent-compatible schema registry."""

from __future__ import annotations

import argparse
from typing import Any

from referral_devstack import apicurio


def _start(_: argparse.Namespace) -> int:
    print(apicurio.start())
    return 0


def _stop(_: argparse.Namespace) -> int:
    print(apicurio.stop())
    return 0


def _status(_: argparse.Namespace) -> int:
    running, text = apicurio.status()
    print(text)
    return 0 if running else 3


def register(sub: Any) -> None:
    """Add the `registry` group."""
    p = sub.add_parser("registry", help="local schema registry (Apicurio, Confluent-compatible API) on 127.0.0.1")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("start", help="build once from Maven Central, start, wait until it answers").set_defaults(
        func=_start
    )
    actions.add_parser("stop", help="stop the local schema registry (in-memory: its schemas are gone)").set_defaults(
        func=_stop
    )
    actions.add_parser("status", help="running or not (exit 3 when stopped)").set_defaults(func=_status)
