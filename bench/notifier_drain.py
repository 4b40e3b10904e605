"""The notifier worker alone draining a backlog of referrals: its CPU ms per delivered referral, from /proc.

Less load-sensitive than the end-to-end run for the notifier's own cost: the backlog keeps it busy (no
idle polling spread over few reports), and its idle CPU rate, measured just before, is subtracted.

    python -m bench.notifier_drain [--referrals 2000] [--repeats 1] [--retried] [--profile DIR]

`--retried`: priorities P1–P4 in turn, each referral on its priority's lane, and every recipient fails
each referral's first attempt (HTTP 503), so each is delivered by its retry, through its lane's retry
topic (breaker off, 0.2-s backoff).

`--profile DIR`: py-spy samples the worker (250 Hz, the GIL's holder, raw collapsed stacks as bench.profiles
records them) from the moment the backlog is produced until it is delivered: `DIR/notifier-drain-<run>.txt`.

Needs the local broker (KAFKA_BOOTSTRAP_SERVERS); one real notifier worker, one local webhook receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from bench import accounting, profiles
from referral_bus.settings import KafkaSettings
from referral_bus.topic_catalog import lane_of
from referral_devstack.receivers import WebhookReceiver
from tests.support import notifier as nt
from tests.support.polling import wait_for

PRIORITIES = ("P1", "P2", "P3", "P4")
RETRIED_ENV = {"NOTIFIER_BREAKER_FAILURE_THRESHOLD": "1000000", "NOTIFIER_BACKOFF_BASE_SECONDS": "0.2"}


def _first_fails(attempt: int) -> int:
    return 503 if attempt == 1 else 200


PROFILE_RATE = 250  # py-spy samples a second


async def drain(
    n: int, idle_seconds: float = 10.0, *, retried: bool = False, profile: Path | None = None
) -> dict[str, Any]:
    """One notifier stack; `n` referrals produced at once; CPU while it delivers them all (`retried`: see above)."""
    namespace = os.environ["REFERRAL_BUS_NAMESPACE"] = "nd" + uuid.uuid4().hex[:10]
    web = WebhookReceiver(behaviour={f"r{i}": _first_fails for i in range(8)} if retried else {})
    recipients = [nt.recipient(f"r{i}", nt.webhook(web, f"r{i}")) for i in range(8)]
    kafka = KafkaSettings().bootstrap_servers
    env = RETRIED_ENV if retried else {}
    async with nt.notifier_stack(web, namespace, kafka, recipients, env, prefix="bench-drain-") as stack:
        stack.start()
        pid = stack.workers.procs["notifier"].pid
        warm = [nt.referral(f"r{i % 8}") for i in range(50)]
        await nt.send_referrals(warm)
        await _until(lambda: len(web.deliveries) >= len(warm), 300)
        idle_rate = await accounting.idle_rate(pid, idle_seconds)
        refs = [nt.referral(f"r{i % 8}", priority=PRIORITIES[i % 4] if retried else "P2") for i in range(n)]
        lanes: dict[str, list[tuple[bytes, bytes]]] = {}
        for r in refs:
            lanes.setdefault(lane_of(r["priority"]).topic, []).append(
                (r["case_id"].encode(), nt.CODEC.encode("Referral", r))
            )
        load_before = os.getloadavg()
        spy = profiles.start_profile(pid, profile, PROFILE_RATE)
        try:
            cpu_before, t = accounting.cpu_seconds(pid) or 0.0, time.monotonic()
            await asyncio.gather(*(nt.produce_batch(lane, records) for lane, records in lanes.items()))
            await _until(lambda: len(web.deliveries) >= len(warm) + n, 900)
            seconds = time.monotonic() - t
            cpu = (accounting.cpu_seconds(pid) or 0.0) - cpu_before
        finally:
            profiles.stop_profile(spy)
    return {
        "referrals": n,
        "retried": retried,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 2),
        "idle_cpu_per_s": round(idle_rate, 4),
        "cpu_ms_per_referral": round(1000 * cpu / n, 3),
        "cpu_ms_per_referral_less_idle": round(1000 * (cpu - idle_rate * seconds) / n, 3),
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "profile": str(profile) if spy is not None else None,
    }


def _profile_file(folder: Path | None, run: int) -> Path | None:
    return None if folder is None else folder / f"notifier-drain-{run + 1}.txt"


async def _until(check: Any, timeout: float) -> None:
    if not await wait_for(check, timeout):
        raise RuntimeError("bench.notifier_drain: the notifier did not deliver the backlog in time")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notifier_drain", description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--retried", action="store_true", help="P1–P4, every first attempt fails (see the module)")
    parser.add_argument("--profile", type=Path, help="py-spy of the worker while it drains, into this folder")
    args = parser.parse_args()
    runs = [
        asyncio.run(drain(args.referrals, retried=args.retried, profile=_profile_file(args.profile, i)))
        for i in range(args.repeats)
    ]
    for run in runs:
        print(json.dumps(run))
    median = statistics.median(r["cpu_ms_per_referral_less_idle"] for r in runs)
    print(f"notifier drain: {median} CPU ms per delivered referral (idle subtracted, median of {len(runs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
