"""`referral-bus broker start|stop|status`."""

from __future__ import annotations

from typing import Any

from referral_cli.commands.local_service import register_group
from referral_devstack import broker


def register(sub: Any) -> None:
    """Add the `broker` group."""
    register_group(
        sub,
        "broker",
        broker,
        help="local Apache Kafka (KRaft) on 127.0.0.1",
        start_help="resolve, format on first use, start, wait until it answers",
        stop_help="stop the local broker",
    )
