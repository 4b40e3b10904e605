"""Settings of the local stack and the tools, read from environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from referral_bus.settings import REPO_ROOT


class DevstackSettings(BaseSettings):
    """`REFERRAL_BUS_*` variables of the local stack; `KEEP_STACK=1` keeps a test stack's folder.

    An empty variable counts as unset (the default applies).
    """

    model_config = SettingsConfigDict(env_prefix="REFERRAL_BUS_", extra="ignore", env_ignore_empty=True)

    broker_port: int = 9092  # local broker (controller on port + 1)
    broker_dir: Path = REPO_ROOT / ".local" / "kafka"  # its data, config, pid and log
    registry_port: int = 8081  # local schema registry
    registry_dir: Path = REPO_ROOT / ".local" / "registry"  # its pid and log
    jaeger_otlp_port: int = 4318  # the development Jaeger `make run` starts: OTLP/HTTP in
    jaeger_otlp_grpc_port: int = 4317  # its OTLP/gRPC receiver
    jaeger_query_port: int = 16686  # and its query API (what `referral-bus trace` reads)
    jaeger_url: str | None = None  # `referral-bus trace` backend; default: the local Jaeger
    keep_stack: bool = Field(default=False, validation_alias=AliasChoices("KEEP_STACK"))
    # KAFKA_BOOTSTRAP_SERVERS as given (not defaulted): set means "a cluster is configured".
    kafka_bootstrap_servers: str | None = Field(default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS"))
