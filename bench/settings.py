"""`make bench`'s own knobs (`BENCH_*`, pydantic-settings): unset, the full run the issue asks for.

The baselines' stage settings (`BENCH_STAGE`, `BENCH_SRC`, …) are `bench.baseline_common.StageConfig`;
the names here never collide with them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def split_list(value: Any) -> Any:
    """A comma-separated variable as a list ("" → unset)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()] or None
    return value


class BenchSettings(BaseSettings):
    """Overrides of the full plan (`bench.run.Plan`); an empty variable counts as unset."""

    model_config = SettingsConfigDict(env_prefix="BENCH_", extra="ignore", env_ignore_empty=True)

    configs: Annotated[list[str] | None, NoDecode] = None  # BENCH_CONFIGS=ours,aiokafka (default: all nine)
    stepped: Annotated[list[str] | None, NoDecode] = None  # configurations that run the knee grid
    rates: Annotated[list[float] | None, NoDecode] = None  # the knee grid, reports/s
    step_seconds: float | None = Field(default=None, ge=1)  # offered-load seconds per knee step (full run: 30)
    unthrottled_seconds: float | None = Field(default=None, ge=1)
    unthrottled_repeats: int | None = Field(default=None, ge=0)  # rounds of the unthrottled run, rotating order
    warm_seconds: float | None = Field(default=None, ge=0)  # each start's unrecorded warm-up at 50/s (full run: 5)
    knee_stop_after: int | None = Field(default=None, ge=1)  # failing knee steps in a row, then the rest not run
    priority_backlog: int | None = Field(default=None, ge=0)  # P4 referrals waiting in the priority scenario; 0: skip
    # ours_sampled's share of reports traced (OTEL_TRACES_SAMPLER_ARG of parentbased_traceidratio; full run: 0.1)
    traces_sampler_arg: float | None = Field(default=None, ge=0, le=1)
    # our workers' consumer fetch settings (default: ServiceSettings'), for an A/B of them (bench/results/fset.md)
    fetch_min_bytes: int | None = Field(default=None, ge=1)
    fetch_max_wait_ms: int | None = Field(default=None, ge=1)
    fetch_gather_max_wait_ms: int | None = Field(default=None, ge=0)  # 0: no gathering while records flow
    fetch_gather_min_bytes: int | None = Field(default=None, ge=1)
    # our workers' batch loop and producer linger (default: the services'), for an A/B of them (bench/results/knob.md)
    batch_max_events: int | None = Field(default=None, ge=1)
    batch_window_ms: float | None = Field(default=None, gt=0)
    # BENCH_SERVICE_LINGER_MS=notifier:20,intake:5 (the workers not named keep their own)
    service_linger_ms: Annotated[dict[Literal["intake", "routing", "notifier"], int] | None, NoDecode] = None
    machine_note: str | None = None  # a sentence on the machine, written into the results (default: measured load)

    @field_validator("configs", "stepped", "rates", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("service_linger_ms", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        """`name:ms,name:ms` as a mapping (a malformed pair is refused by name)."""
        pairs = split_list(value)
        if not isinstance(pairs, list):
            return pairs
        if bad := [p for p in pairs if p.count(":") != 1]:
            raise ValueError(f"expected name:ms pairs, got {bad}")
        return dict(p.split(":") for p in pairs)
