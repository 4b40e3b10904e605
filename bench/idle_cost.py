"""Our three workers with nothing to do: each one's CPU per second (its polling floor), from /proc.

    python -m bench.idle_cost [--seconds 60]

The stack starts as in `bench.run` (the services' defaults; BENCH_FETCH_MIN_BYTES / BENCH_FETCH_MAX_WAIT_MS
override the fetch settings), 20 reports go through it, then it idles for `--seconds` while /proc is read.
Needs the local broker (KAFKA_BOOTSTRAP_SERVERS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

from bench import accounting
from bench.drive import Load, warm_up
from bench.run import _delete_topics, _tuning
from bench.settings import BenchSettings
from bench.sink import ReceiverProcess
from bench.stacks import OurStack
from referral_devstack.workers import temp_workdir


async def measure(seconds: float) -> dict[str, Any]:
    """Start our stack, pass 20 reports, then CPU seconds per second per process over `seconds` idle."""
    tuning, receiver = _tuning(BenchSettings()), ReceiverProcess()
    namespace = f"idle-{uuid.uuid4().hex[:6]}"
    await receiver.start()
    try:
        with temp_workdir(prefix="bench-") as work:
            stack = OurStack("ours", namespace, work, receiver.base_url, tuning)
            try:
                await asyncio.to_thread(stack.start)
                async with Load(stack.intake_topic) as load:
                    await warm_up(load, receiver)
                await asyncio.sleep(5)  # commits and the last fetches settle
                before, t = accounting.snapshot(stack.pids()), time.monotonic()
                await asyncio.sleep(seconds)
                spent = accounting.spent(before, accounting.snapshot(stack.pids()))
                elapsed = time.monotonic() - t
            finally:
                await asyncio.to_thread(stack.stop)
                await _delete_topics(namespace)
    finally:
        await receiver.stop()
    return {
        "seconds": round(elapsed, 1),
        "fetch_min_bytes": tuning.consumer_fetch_min_bytes,
        "fetch_max_wait_ms": tuning.consumer_fetch_max_wait_ms,
        "cpu_ms_per_s": {k: round(1000 * v / elapsed, 2) for k, v in spent.items()},
    }


def main() -> None:
    """Print the idle figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    print(json.dumps(asyncio.run(measure(parser.parse_args().seconds)), indent=1))


if __name__ == "__main__":
    main()
