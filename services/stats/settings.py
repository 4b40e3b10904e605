"""The stats worker's settings: `STATS_*` variables (and the shared mixins of referral_bus/settings.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from referral_bus.settings import DirectoryFile, ServiceSettings, config_file_field


class StatsSettings(ServiceSettings, DirectoryFile):
    """`STATS_*` variables (docs/statistics.md)."""

    model_config = SettingsConfigDict(env_prefix="STATS_", extra="ignore")

    web_port: int = 6069
    # Disclosure control: counts 1..k-1 are never published; a province with fewer distinct cases
    # than min_province_total in a week is withheld from every province table of that week.
    k: int = Field(default=5, ge=2)
    min_province_total: int = Field(default=10, ge=1)
    publish_interval_seconds: float = Field(default=10.0, gt=0)
    # A week is published only once it has ended (Viet Nam time) this many hours ago: figures that
    # change with every new case would let a reader difference two releases and read that case off.
    publish_after_hours: float = Field(default=24.0, ge=0)
    home_country: str = Field(default="VN", min_length=2, max_length=2)
    config_path: Path = config_file_field("stats.yaml")
