"""Ratios between two configurations of one run, pure: of medians, and the median of per-round pairs.

Round i of one configuration ÷ round i of the other ran minutes apart in the same round, so a slow stretch of a
shared host moves both; the median of those pairs is the ratio `make bench` reports against issue 17's goals.
"""

from __future__ import annotations

import statistics
from typing import Any

NOT_WORKERS = ("broker", "driver", "receiver")  # processes outside a configuration's own pipeline


def workers_cpu_ms(per_process: dict[str, float] | None) -> float | None:
    """CPU ms per report of a configuration's worker processes together (not the broker, driver or receiver)."""
    if not per_process:
        return None
    return sum(v for k, v in per_process.items() if k not in NOT_WORKERS) or None


def _by_round(cfg: dict[str, Any], value: str) -> dict[int, float]:
    """Each round's unthrottled throughput ("throughput") or workers' CPU ms per report ("cpu"), when measured."""
    out: dict[int, float] = {}
    for run in cfg.get("unthrottled", {}).get("runs", []):
        v = run.get("throughput_per_s") if value == "throughput" else workers_cpu_ms(run.get("cpu_ms_per_report"))
        if v and "round" in run:
            out[int(run["round"])] = float(v)
    return out


def paired(num: dict[str, Any], den: dict[str, Any], value: str = "throughput") -> list[float]:
    """Per round that both configurations measured: num ÷ den by throughput, or den's CPU ÷ num's by CPU per report
    (so that, as with throughput, above 1 means num does more with the same machine)."""
    a, b = _by_round(num, value), _by_round(den, value)
    rounds = sorted(a.keys() & b.keys())
    if value == "throughput":
        return [round(a[r] / b[r], 3) for r in rounds]
    return [round(b[r] / a[r], 3) for r in rounds]


def compare(num: dict[str, Any] | None, den: dict[str, Any] | None) -> dict[str, Any]:
    """Both configurations' ratios: paired by round (their median and each), by CPU per report, and of medians."""
    if not num or not den:
        return {}
    out: dict[str, Any] = {}
    a, b = (c.get("unthrottled", {}).get("median_throughput_per_s") for c in (num, den))
    if a and b:
        out["of_medians"] = round(a / b, 3)
    if pairs := paired(num, den):
        out["paired"] = round(statistics.median(pairs), 3)
        out["per_round"] = pairs
    if cpu := paired(num, den, "cpu"):
        out["cpu_paired"] = round(statistics.median(cpu), 3)
        out["cpu_per_round"] = cpu
    return out
