"""The intake worker alone draining N reports: its CPU ms per report from /proc, robust to a loaded machine.

`python -m bench.intake_drain [--reports 3000] [--profile out.txt]` starts one intake worker on the shared
broker (its own topic namespace, the bench's configuration), produces N generated reports (as `bench.run`
offers them), waits until N cases are out and prints the worker's CPU seconds (utime + stime) per report,
with its idle CPU rate subtracted. `--profile` samples the drain with py-spy (raw collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import accounting
from bench.profiles import start_profile, stop_profile
from bench.reports import ReportStream, kafka_key
from bench.routing_drain import delete_topics, figures, wait_records
from referral_bus import topics
from referral_bus.clock import now_ms
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs
from referral_bus.settings import KafkaSettings
from referral_devstack.workers import Workers, temp_workdir


def encoded_reports(codec: Codec, n: int, tag: str) -> list[tuple[bytes, bytes]]:
    """`n` (key, CaseReport record) as an agency sends them, with unique report ids (`tag`)."""
    out = []
    for report in ReportStream(tag=tag).take(n):
        report["received_at"] = now_ms()
        out.append((kafka_key(report), codec.encode("CaseReport", report)))
    return out


async def drain(n: int, profile: Path | None) -> dict[str, Any]:
    """Start intake, produce `n` reports, wait for `n` cases; CPU of the worker over the drain."""
    namespace = f"indrain-{uuid.uuid4().hex[:8]}"
    codec = Codec(schema_registry=None)
    warm, reports = encoded_reports(codec, 200, f"warm-{namespace}"), encoded_reports(codec, n, namespace)
    kw = client_kwargs(KafkaSettings())
    intake, cases = f"{namespace}.{topics.INTAKE}", f"{namespace}.{topics.CASES}"
    with temp_workdir(prefix="indrain-") as work:
        env = {"KAFKA_BOOTSTRAP_SERVERS": KafkaSettings().bootstrap_servers, "OTEL_TRACES_EXPORTER": "none"}
        workers = Workers(work, namespace, env)
        workers.start("intake")
        producer = AIOKafkaProducer(**kw, linger_ms=20, max_batch_size=1 << 20, acks="all")
        consumer = AIOKafkaConsumer(**kw)
        try:
            await asyncio.to_thread(workers.wait_ready, 240)
            pid = workers.procs["intake"].pid
            await producer.start()
            await consumer.start()
            for key, value in warm:  # first events pay for imports, metadata and table warm-up
                await producer.send(intake, value, key=key)
            await producer.flush()
            await wait_records(consumer, cases, len(warm), 300)
            idle = await accounting.idle_rate(pid, 6)
            c1, t1 = accounting.cpu_seconds(pid) or 0.0, time.monotonic()
            spy = start_profile(pid, profile)
            for key, value in reports:
                await producer.send(intake, value, key=key)
            await producer.flush()
            await wait_records(consumer, cases, len(warm) + n, 900)
            c2, t2 = accounting.cpu_seconds(pid) or 0.0, time.monotonic()
            stop_profile(spy)
        finally:
            await producer.stop()
            await consumer.stop()
            workers.stop_all()
            await delete_topics(kw, namespace)
    return figures("report", n, t2 - t1, c2 - c1, idle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks of the drain to this file")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(drain(args.reports, args.profile))))


if __name__ == "__main__":
    main()
