"""The routing worker alone draining N cases: its CPU ms per case from /proc, robust to a loaded machine.

`python -m bench.routing_drain [--cases 3000] [--rate 0] [--profile out.txt]` starts one routing worker on the shared
broker (its own topic namespace, the bench's configuration), produces N Case records as intake writes
them, waits until N decisions are out and prints the worker's CPU seconds (utime + stime) per case,
with its idle CPU rate subtracted. `--rate N`: N cases a second instead of a backlog (at 100/s per wake-up work
dominates: bench/results/tbl3.md). `--profile` samples the drain with py-spy (raw collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench import accounting, profiles
from bench.bench_routing import encoded_cases
from bench.stackconfig import write_config
from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs
from referral_bus.settings import KafkaSettings
from referral_devstack.workers import Workers, temp_workdir


async def records_in(consumer: AIOKafkaConsumer, name: str) -> int:
    """Records written to a topic so far (sum of its partitions' end offsets; 0 while it does not exist)."""
    await consumer._client.force_metadata_update()
    tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
    return sum((await consumer.end_offsets(tps)).values()) if tps else 0


async def wait_records(consumer: AIOKafkaConsumer, name: str, count: int, timeout: float) -> None:
    """Poll the topic's end offsets until it holds `count` records, to a deadline."""
    deadline = time.monotonic() + timeout
    while await records_in(consumer, name) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not reach {count} records in {timeout:.0f} s")
        await asyncio.sleep(0.2)


async def drain(n: int, profile: Path | None, rate: float = 0.0) -> dict[str, Any]:
    """Start routing, produce `n` cases (all at once, or `rate` a second), wait for `n` decisions; its CPU meanwhile."""
    namespace = f"rtdrain-{uuid.uuid4().hex[:8]}"
    codec = Codec(schema_registry=None)
    cases = encoded_cases(codec, n)
    kw = client_kwargs(KafkaSettings())
    with temp_workdir(prefix="rtdrain-") as work:
        directory, rules = write_config(work, "http://127.0.0.1:9")
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": KafkaSettings().bootstrap_servers,
            "ROUTING_DIRECTORY_PATH": str(directory),
            "ROUTING_RULES_PATH": str(rules),
            "OTEL_TRACES_EXPORTER": "none",
        }
        workers = Workers(work, namespace, env)
        workers.start("routing")
        try:
            await asyncio.to_thread(workers.wait_ready, 240)
            pid = workers.procs["routing"].pid
            await asyncio.sleep(3)
            idle = await accounting.idle_rate(pid, 6)
            producer = AIOKafkaProducer(**kw, linger_ms=20, max_batch_size=1 << 20, acks="all")
            consumer = AIOKafkaConsumer(**kw)
            await producer.start()
            await consumer.start()
            c1, t1 = accounting.cpu_seconds(pid) or 0.0, time.monotonic()
            spy = profiles.start_profile(pid, profile)
            started = time.monotonic()
            for i, (key, value) in enumerate(cases):
                await producer.send(f"{namespace}.{topics.CASES}", value, key=key)
                if rate and (ahead := started + (i + 1) / rate - time.monotonic()) > 0:
                    await asyncio.sleep(ahead)  # paced: the worker's per wake-up work at that rate
            await producer.flush()
            await wait_records(consumer, f"{namespace}.{topics.DECISIONS}", n, 900)
            c2, t2 = accounting.cpu_seconds(pid) or 0.0, time.monotonic()
            profiles.stop_profile(spy)
            await producer.stop()
            await consumer.stop()
        finally:
            workers.stop_all()
            await delete_topics(kw, namespace)
    return figures("case", n, t2 - t1, c2 - c1, idle)


async def delete_topics(kw: dict[str, Any], namespace: str) -> None:
    """Delete every topic of a drain's namespace."""
    admin = AIOKafkaAdminClient(**kw)
    await admin.start()
    try:
        if mine := [t for t in await admin.list_topics() if t.startswith(namespace)]:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def figures(unit: str, n: int, wall: float, used: float, idle: float) -> dict[str, Any]:
    """A drain's result: CPU ms per `unit` (case, report) over `n` of them, raw and with the idle rate subtracted."""
    return {
        f"{unit}s": n,
        "wall_s": round(wall, 1),
        "cpu_s": round(used, 2),
        f"cpu_ms_per_{unit}": round(1000 * used / n, 3),
        "idle_cpu_per_s": round(idle, 4),
        f"cpu_ms_per_{unit}_idle_corrected": round(1000 * (used - idle * wall) / n, 3),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "git": accounting.git_commit(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks of the drain to this file")
    parser.add_argument("--rate", type=float, default=0.0, help="cases a second (0: all at once, a backlog)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(drain(args.cases, args.profile, args.rate))))


if __name__ == "__main__":
    main()
