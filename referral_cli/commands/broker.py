"""`referral-bus broker start|stop|status`."""

from __future__ import annotations

import argparse
from typing import Any

from referral_devstack import broker


def _start(_: argparse.Namespace) -> int:
    print(broker.start())
    return 0


def _stop(_: argparse.Namespace) -> int:
    print(broker.stop())
    return 0


def _status(_: argparse.Namespace) -> int:
    running, text = broker.status()
    print(text)
    return 0 if running else 3


def register(sub: Any) -> None:
    """Add the `broker` group."""
    p = sub.add_parser("broker", help="local Apache Kafka (KRaft) on 127.0.0.1")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("start", help="resolve, format on first use, start, wait until it answers").set_defaults(
        func=_start
    )
    actions.add_parser("stop", help="stop the local broker").set_defaults(func=_stop)
    actions.add_parser("status", help="running or not (exit 3 when stopped)").set_defaults(func=_status)
