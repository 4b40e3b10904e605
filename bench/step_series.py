"""A knee step's reports by the second they were scheduled in: how many arrived, their p99 and max latency.

A stall shows as a run of seconds whose reports all waited; `t0_ms` (epoch ms of the step's first scheduled send)
lines them up with the workers' and the broker's logs by wall-clock time. Kept in each step of the results JSON
(`e2e.<name>.steps[].by_second`), printed nowhere by default; `python -m bench.step_series RESULTS.json` lists the
seconds over a latency.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.drive import percentile
from bench.sink import Arrival


def first_arrivals(arrivals: Iterable[Arrival], prefix: str) -> list[tuple[float, float]]:
    """(scheduled send ms, latency ms) of the first arrival of each report whose id starts with `prefix` (a
    duplicate counts once, as in the step's own figures)."""
    seen: set[str] = set()
    out = []
    for a in arrivals:
        rid, sent_ms = a.identify()
        if rid.startswith(prefix) and rid not in seen:
            seen.add(rid)
            out.append((sent_ms, a.at_ms - sent_ms))
    return out


def by_second(timed: list[tuple[float, float]]) -> dict[str, Any]:
    """Per scheduled second from the first scheduled send: arrivals, p99 and max latency (ms; None: none arrived)."""
    if not timed:
        return {"t0_ms": None, "arrivals": [], "p99_ms": [], "max_ms": []}
    t0 = min(sent for sent, _ in timed)
    seconds: list[list[float]] = [[] for _ in range(int((max(sent for sent, _ in timed) - t0) // 1000) + 1)]
    for sent, latency in timed:
        seconds[int((sent - t0) // 1000)].append(latency)
    for lat in seconds:
        lat.sort()
    return {
        "t0_ms": round(t0),
        "arrivals": [len(lat) for lat in seconds],
        "p99_ms": [round(percentile(lat, 99), 1) if lat else None for lat in seconds],
        "max_ms": [round(lat[-1], 1) if lat else None for lat in seconds],
    }


def slow_seconds(series: dict[str, Any], over_ms: float) -> list[tuple[str, int, float]]:
    """(UTC wall-clock time, arrivals, max ms) of each scheduled second whose max latency is `over_ms` or more."""
    out = []
    for i, (n, worst) in enumerate(zip(series["arrivals"], series["max_ms"], strict=True)):
        if worst is not None and worst >= over_ms:
            when = datetime.fromtimestamp((series["t0_ms"] + i * 1000) / 1000, UTC)
            out.append((when.strftime("%H:%M:%S"), n, worst))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.step_series", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a results JSON of bench.run")
    parser.add_argument("--over-ms", type=float, default=300.0, help="list seconds whose max latency is this or more")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    for name, cfg in results.get("e2e", {}).items():
        for step in cfg.get("steps", []):
            if series := step.get("by_second"):
                slow = slow_seconds(series, args.over_ms)
                print(f"{name} {step['offered_per_s']}/s: {len(slow)} seconds ≥ {args.over_ms:g} ms")
                for when, n, worst in slow:
                    print(f"  {when} UTC scheduled: {n} reports, max {worst} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
