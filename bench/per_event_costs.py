"""CPU µs of three small costs, before and after @mon's cuts, in one process (ratios robust to a loaded machine).

    python -m bench.per_event_costs [--repeats 5]

* sensors: Faust's sensor calls of one event (message in, stream event in/out, message out), three sends
  and two table reads and one write, through the app's SensorDelegate with Faust's Monitor vs LeanMonitor;
* gauges: one 5-s tick of the notifier's pending gauges over N waiting referrals, 250 arriving (three index
  puts each) in it: `summarise` over them all vs `PendingTally.rows`, the index's puts included both ways;
* claim warning: one event refused over its agency's claim limit (a structlog JSON line vs the limiter).

Prints one JSON object; each figure is the median of `--repeats` timed loops (`time.process_time`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import structlog
from faust.sensors import Monitor, SensorDelegate
from faust.types import TP

from referral_bus import logging as rb_logging
from referral_bus.lean_monitor import LeanMonitor
from referral_bus.lograte import RepeatLimiter
from services.notifier.dueindex import DueIndex
from services.notifier.pending import PRIORITIES, STATES, PendingIndex, Waiting, summarise


def _us(loop: Callable[[], None], n: int, repeats: int) -> float:
    """Median CPU µs of one iteration of `loop` (which runs `n` of them)."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        loop()
        times.append((time.process_time() - start) / n * 1e6)
    return round(statistics.median(times), 3)


class _Stream:
    def __init__(self) -> None:
        self.task_owner = self


def sensors(monitor_class: type[Monitor], repeats: int, n: int = 20_000) -> float:
    """µs of Faust's sensor calls per event with one monitor of `monitor_class` as the only sensor."""
    app = SimpleNamespace(beacon=SimpleNamespace(new=lambda sensor: None))
    delegate: Any = SensorDelegate(app)  # type: ignore[arg-type]  # only its beacon is used
    delegate.add(monitor_class())
    tp, stream, table = TP("t", 0), _Stream(), SimpleNamespace(name="tbl")
    message = SimpleNamespace(time_in=None, time_out=None, time_total=None)

    def loop() -> None:
        for offset in range(n):
            delegate.on_message_in(tp, offset, message)
            state = delegate.on_stream_event_in(tp, offset, stream, message)
            delegate.on_table_get(table, "k")
            delegate.on_table_get(table, "k")
            delegate.on_table_set(table, "k", 1)
            for _ in range(3):
                sent = delegate.on_send_initiated(None, "out", None, 10, 100)
                delegate.on_send_completed(None, sent, None)
            delegate.on_stream_event_out(tp, offset, stream, message, state)
            delegate.on_message_out(tp, offset, message)

    return _us(loop, n, repeats)


def _waiting(rng: random.Random, now: int) -> Waiting:
    return Waiting(rng.choice(PRIORITIES), rng.choice(STATES), now - rng.randrange(3_600_000), rng.choice([900, 3600]))


def gauges(pending: int, repeats: int, arrivals: int = 250) -> dict[str, float]:
    """µs of one 5-s gauge tick over `pending` waiting referrals, with its index changes, both ways.

    As in the notifier: in each tick `arrivals` referrals arrive (undelivered), are written again (a retry
    that changes nothing) and are delivered (unacknowledged: the pile grows); one refresh at the end.
    """
    rng, now = random.Random(1), 10**9
    plain: DueIndex[Waiting] = DueIndex()
    tallied = PendingIndex()
    for i in range(pending):
        w = _waiting(rng, now)
        plain.put(f"r{i}", now + 60_000, w)
        tallied.put(f"r{i}", now + 60_000, w)
    clock, serial = [now, now], [pending, pending]

    def tick(index: DueIndex[Waiting], side: int, refresh: Callable[[int], object]) -> None:
        clock[side] += 5_000
        for _ in range(arrivals):
            key, since = f"r{serial[side]}", clock[side] - rng.randrange(5_000)
            serial[side] += 1
            for state in (STATES[0], STATES[0], STATES[1]):
                index.put(key, clock[side] + 60_000, Waiting("P2", state, since, 900))
        refresh(clock[side])

    return {
        "summarise_us_per_tick": _us(lambda: tick(plain, 0, lambda t: summarise(plain.payloads(), t)), 1, repeats),
        "tally_us_per_tick": _us(lambda: tick(tallied, 1, tallied.tally.rows), 1, repeats),
    }


def claim_warning(repeats: int, n: int = 20_000) -> dict[str, float]:
    """µs of one refused event's warning: a line through the workers' structlog set-up (to /dev/null) vs the limiter."""
    sys.stderr = open(os.devnull, "w")  # the workers' logger writes to stderr: to /dev/null, open to the end
    rb_logging.configure("intake")
    structlog.contextvars.bind_contextvars(stage="intake", case_id="case-0123456789abcdef", report_id=None)
    log = structlog.get_logger()
    limiter = RepeatLimiter(30.0)

    def every_line() -> None:
        for _ in range(n):
            log.warning("correlation claim over the agency's daily limit", agency_id="agency-a")

    def limited() -> None:
        for _ in range(n):
            now = time.monotonic()
            if limiter.admit(("agency-a", "claim"), now):
                log.warning("correlation claim over the agency's daily limit", agency_id="agency-a")
            for _held in limiter.due(now):
                pass

    return {"line_us": _us(every_line, n, repeats), "limited_us": _us(limited, n, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "sensors_us_per_event": {
            "faust_monitor": sensors(Monitor, args.repeats),
            "lean": sensors(LeanMonitor, args.repeats),
        },
        "pending_gauges": {str(n): gauges(n, args.repeats) for n in (1_000, 10_000, 50_000)},
        "claim_warning_us_per_event": claim_warning(args.repeats),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
