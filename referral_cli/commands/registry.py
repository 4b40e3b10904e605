"""`referral-bus registry start|stop|status`: the local Confluent-compatible schema registry."""

from __future__ import annotations

from typing import Any

from referral_cli.commands.local_service import register_group
from referral_devstack import apicurio


def register(sub: Any) -> None:
    """Add the `registry` group."""
    register_group(
        sub,
        "registry",
        apicurio,
        help="local schema registry (Apicurio, Confluent-compatible API) on 127.0.0.1",
        start_help="build once from Maven Central, start, wait until it answers",
        stop_help="stop the local schema registry (in-memory: its schemas are gone)",
    )
