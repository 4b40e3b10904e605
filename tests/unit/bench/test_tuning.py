"""BENCH_* overrides of our workers' batch loop, linger and fetch gathering (bench/settings.py, bench.run._tuning)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bench.run import _tuning
from bench.settings import BenchSettings
from bench.stacks import Tuning
from referral_bus.settings import ServiceSettings

_OVERRIDES = {
    "BENCH_BATCH_MAX_EVENTS": "500",
    "BENCH_BATCH_WINDOW_MS": "12.5",
    "BENCH_FETCH_GATHER_MIN_BYTES": "131072",
    "BENCH_SERVICE_LINGER_MS": "notifier:20, intake:7",
}


def test_unset_variables_leave_every_worker_on_the_services_defaults() -> None:
    tuning, defaults = _tuning(BenchSettings()), ServiceSettings()
    assert (tuning.batch_max_events, tuning.batch_window_ms) == (defaults.batch_max_events, defaults.batch_window_ms)
    assert tuning.consumer_fetch_gather_min_bytes == defaults.consumer_fetch_gather_min_bytes


def test_each_override_reaches_every_worker_and_changes_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    base = Tuning(partitions=_tuning(BenchSettings()).partitions)
    for name, value in _OVERRIDES.items():
        monkeypatch.setenv(name, value)
    tuned = _tuning(BenchSettings())
    env, before = tuned.service_env(), base.service_env()
    changed = {k: env[k] for k in env if env[k] != before[k]}
    expected = {f"{p}_BATCH_MAX_EVENTS": "500" for p in ("INTAKE", "ROUTING", "NOTIFIER")}
    expected |= {f"{p}_BATCH_WINDOW_MS": "12.5" for p in ("INTAKE", "ROUTING", "NOTIFIER")}
    expected |= {f"{p}_CONSUMER_FETCH_GATHER_MIN_BYTES": "131072" for p in ("INTAKE", "ROUTING", "NOTIFIER")}
    expected |= {"NOTIFIER_PRODUCER_LINGER_MS": "20", "INTAKE_PRODUCER_LINGER_MS": "7"}
    assert changed == expected  # every value above differs from the default; routing's linger not named: its own
    assert tuned.baseline_env() == base.baseline_env()


@pytest.mark.parametrize("value", ["notifier", "notifier:20:1", "ledger:5", "notifier:x"])
def test_a_malformed_or_unknown_linger_pair_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BENCH_SERVICE_LINGER_MS", value)
    with pytest.raises(ValidationError):
        BenchSettings()
