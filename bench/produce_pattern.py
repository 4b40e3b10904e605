"""Our workers' produce pattern per report, replayed without the workers: the broker's CPU per report by linger.

Per report: the agency's record, then intake's outputs, routing's, the notifier's (each stage's outputs awaited
together, then its changelog record, as `Service.run_guarded` does), 13 records to 11 topics, at a fixed rate.
Use a broker of your own (bench/results/bcpu.md): the figure is its process's CPU, whoever else uses it.

    python -m bench.produce_pattern --rate 50 --seconds 20 --linger 5,5,50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench import accounting
from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import KafkaSettings

# stage → (outputs awaited together, changelog records sent once the outputs are on the broker)
STAGES: dict[str, tuple[list[str], list[str]]] = {
    "intake": (["cases", "status"], ["content-changelog", "dedup-changelog"]),
    "routing": (["referrals", "decisions", "status"], ["routed-changelog"]),
    "notifier": (["receipts", "disclosures", "status"], ["state-changelog"]),
}
BIG, SMALL = os.urandom(1500), os.urandom(300)  # a report-sized record; a status record


class Replay:
    """One producer per stage (its own linger) and the agency's, writing under `prefix`."""

    def __init__(self, prefix: str, linger_ms: list[int]) -> None:
        kw = client_kwargs(KafkaSettings())
        self.prefix = prefix
        self.stages = {
            s: AIOKafkaProducer(**kw, acks="all", linger_ms=ms) for s, ms in zip(STAGES, linger_ms, strict=True)
        }
        self.agency = AIOKafkaProducer(**kw, acks="all", linger_ms=5)
        self.to_notifier: list[float] = []  # seconds from the agency's send to routing's outputs on the broker

    async def report(self) -> None:
        key = f"case-{uuid.uuid4()}".encode()
        start = time.perf_counter()
        await (await self.agency.send(f"{self.prefix}.intake", BIG, key=key))
        later = []
        for name, (outputs, changelogs) in STAGES.items():
            if name == "notifier":
                self.to_notifier.append(time.perf_counter() - start)
            producer = self.stages[name]
            sent = [
                await producer.send(f"{self.prefix}.{t}", SMALL if t == "status" else BIG, key=key) for t in outputs
            ]
            await asyncio.gather(*sent)
            later += [await producer.send(f"{self.prefix}.{t}", BIG, key=key) for t in changelogs]
        await asyncio.gather(*later)


async def run(rate: float, seconds: float, linger_ms: list[int]) -> dict[str, float]:
    """Reports at `rate` for `seconds`; the broker's CPU ms per report and the latency to the notifier's input."""
    broker = accounting.broker_pid()
    if broker is None:
        raise SystemExit("no local broker pid (REFERRAL_BUS_BROKER_DIR): start your own broker first")
    prefix = f"pattern-{uuid.uuid4().hex[:6]}"
    names = sorted({"intake"} | {t for outputs, changelogs in STAGES.values() for t in outputs + changelogs})
    await ensure_topics(KafkaSettings(), [f"{prefix}.{t}" for t in names])
    replay = Replay(prefix, linger_ms)
    producers = [*replay.stages.values(), replay.agency]
    for p in producers:
        await p.start()
    try:
        for _ in range(20):  # connections and metadata, outside the measurement
            await replay.report()
        replay.to_notifier.clear()
        tasks: set[asyncio.Task[None]] = set()
        cpu_before, start, n = accounting.cpu_seconds(broker) or 0.0, time.monotonic(), int(rate * seconds)
        for i in range(n):
            if (wait := start + i / rate - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(replay.report())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        cpu = (accounting.cpu_seconds(broker) or 0.0) - cpu_before
    finally:
        for p in producers:
            await p.stop()
        admin = AIOKafkaAdminClient(**client_kwargs(KafkaSettings()))
        await admin.start()
        try:
            await admin.delete_topics([f"{prefix}.{t}" for t in names])
        finally:
            await admin.close()
    lat = sorted(replay.to_notifier)
    return {
        "rate": rate,
        "reports": n,
        "broker_cpu_ms_per_report": round(1000 * cpu / n, 3),
        "to_notifier_ms_p50": round(1000 * lat[len(lat) // 2], 1),
        "to_notifier_ms_p99": round(1000 * lat[int(len(lat) * 0.99)], 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--linger", default="5,5,5", help="linger ms of intake, routing, notifier")
    args = parser.parse_args()
    linger = [int(x) for x in args.linger.split(",")]
    print(json.dumps({"linger_ms": linger} | asyncio.run(run(args.rate, args.seconds, linger))))


if __name__ == "__main__":
    main()
