"""The routing worker's settings: `ROUTING_*` variables (and the shared mixins of referral_bus/settings.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from referral_bus.settings import (
    DELIVERY_PATH_LINGER_MS,
    AgenciesFile,
    DirectoryFile,
    ServiceSettings,
    config_file_field,
)


class RoutingSettings(ServiceSettings, DirectoryFile, AgenciesFile):
    """`ROUTING_*` variables."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore")

    web_port: int = 6067
    rules_path: Path = config_file_field("rules.yaml")
    # the data profiles: part of the rules version recorded in every decision
    profiles_path: Path = config_file_field("profiles.yaml")
    reload_interval_seconds: float = Field(default=2.0, gt=0)
    # How long a case's holders (table `routed`, for linked reports) are kept after its last report, then
    # tombstoned: at least INTAKE_CORRELATION_WINDOW_HOURS, the longest a linked report can follow it.
    linked_window_hours: float = Field(default=96.0, gt=0)
    producer_linger_ms: int = Field(default=DELIVERY_PATH_LINGER_MS, ge=0)  # referral_bus/settings.py
