"""The test suite's own settings, read like every other setting (pydantic-settings): CI, screenshots, fault runs."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from referral_bus.settings import REPO_ROOT


class SuiteSettings(BaseSettings):
    """`CI` (any value: a missing tool fails the test instead of skipping it) and `REFRESH_SCREENSHOT=1`."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    ci: str | None = None
    refresh_screenshot: bool = False

    @property
    def under_ci(self) -> bool:
        """True under CI."""
        return bool(self.ci)


class FaultsSettings(BaseSettings):
    """`FAULTS_*`: sizes and limits of the fault runs (`make faults`; FAULTS_FULL=1 for the full suite)."""

    model_config = SettingsConfigDict(env_prefix="FAULTS_", extra="ignore", env_ignore_empty=True)

    full: bool = False
    worker_stall_timeout: str = "60"  # passed on as each worker's <SERVICE>_STALL_TIMEOUT_SECONDS
    stall_seconds: float = 120.0  # a drain gives up after this long without a new delivery
    short_n: int = 300
    n: int = 5000
    backlog_n: int = 50_000
    # the soak: unset values follow FAULTS_FULL (see `soak_plan`)
    soak_seconds: float | None = None
    soak_rate: float | None = None
    soak_sample_seconds: float | None = None
    soak_window_seconds: float | None = None
    soak_output: Path = REPO_ROOT / ".local" / "faults" / "soak.txt"

    def soak_plan(self) -> tuple[float, float, float, float]:
        """The soak's seconds, reports per second, sampling interval and window (FULL: half an hour at 20/s)."""
        full, short = (1800.0, 20.0, 30.0, 120.0), (40.0, 5.0, 10.0, 15.0)
        default = full if self.full else short
        given = (self.soak_seconds, self.soak_rate, self.soak_sample_seconds, self.soak_window_seconds)
        seconds, rate, sample, window = (d if g is None else g for g, d in zip(given, default, strict=True))
        return seconds, rate, sample, window
