"""The intake worker's settings: `INTAKE_*` variables (and the shared mixins of referral_bus/settings.py)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from referral_bus.settings import DELIVERY_PATH_LINGER_MS, AgenciesFile, ServiceSettings


class IntakeSettings(ServiceSettings, AgenciesFile):
    """`INTAKE_*` variables."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    clock_skew_seconds: int = Field(default=300, ge=0)
    dedup_window_days: float = Field(default=30, gt=0)
    correlation_window_hours: float = Field(default=72, ge=0)
    # dedup and correlation entries outlive their window by this much, so a report read again late (after
    # a restart, a rebalance, a backlog) meets the entries its first reading met: the same case, the same ids
    replay_grace_seconds: float = Field(default=3600, ge=0)
    # correlate a report here, without the hops, when this worker holds all its content keys' partitions
    # (false: every report through the hops; docs/performance.md)
    local_correlation: bool = True
    producer_linger_ms: int = Field(default=DELIVERY_PATH_LINGER_MS, ge=0)  # referral_bus/settings.py

    @property
    def dedup_expiry_ms(self) -> int:
        """How long a dedup mark is kept after its last write: the window and the replay grace."""
        return int(self.dedup_window_days * 86_400_000 + self.replay_grace_seconds * 1000)

    @property
    def content_expiry_ms(self) -> int:
        """How long a correlation entry is kept after its last write: the window and the replay grace."""
        return int(self.correlation_window_hours * 3_600_000 + self.replay_grace_seconds * 1000)
