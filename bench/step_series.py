"""The slow seconds of each knee step: `python -m bench.step_series RESULTS.json` lists them with their UTC time.

Each step of the results JSON keeps its reports by the second they were scheduled in (`e2e.<name>.steps[].by_second`,
`drive.by_second`: arrivals, p99 and max latency, `t0_ms` for the wall clock); printed nowhere by default.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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
