"""The intake worker's settings: `INTAKE_*` variables (and the shared mixins of referral_bus/settings.py)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from referral_bus.settings import AgenciesFile, ServiceSettings


class IntakeSettings(ServiceSettings, AgenciesFile):
    """`INTAKE_*` variables."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    clock_skew_seconds: int = Field(default=300, ge=0)
    dedup_window_days: float = Field(default=30, gt=0)
    correlation_window_hours: float = Field(default=72, ge=0)
    # correlate a report here, without the hops, when this worker holds all its content keys' partitions
    # (false: every report through the hops; docs/performance.md)
    local_correlation: bool = True
