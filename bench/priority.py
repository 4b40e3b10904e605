"""Priority lanes under a backlog: P1 latency while 50,000 P4 referrals wait for a slow recipient.

The real notifier worker alone (the lanes are its concern; routing's lane choice is tested in
tests/): P4 referrals are produced to the standard lane as routing would, addressed to a recipient
whose webhook answers only after `slow_ms`, so they pile up behind the notifier's delivery slots. Once
the backlog is being worked, P1 referrals for another recipient go to the urgent lane at a fixed
offered rate (open loop, encoded before the clock starts). P1 latency = receiver arrival − the P1's
scheduled send time (stamped in its report's `received_at`), so a driver that falls behind counts.

    python -m bench.priority [--backlog 50000]     # this scenario alone (make bench runs it too)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaProducer

from bench.drive import percentile
from bench.reports import ReportStream
from bench.sink import ReceiverProcess
from bench.stackconfig import write_config
from bench.stacks import Tuning
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import KafkaSettings
from referral_bus.topic_catalog import lane_of, lane_topics
from referral_devstack.agencies import write_secrets
from referral_devstack.workers import Workers, temp_workdir
from tests.support.notifier import referral_of


@dataclass(frozen=True)
class Scenario:
    """The sizes; `smoke()` is the short run `make test` makes."""

    backlog: int = 50_000  # P4 referrals waiting on the standard lane
    slow_ms: float = 1000.0  # how long the P4 recipient takes to answer each delivery
    p1_rate: float = 5.0  # P1 referrals offered per second
    p1_seconds: float = 30.0
    min_backlog_arrivals: int = 50  # P4 deliveries seen before the P1s start (the backlog is being worked)
    timeout_s: float = 120.0  # how long to wait for the last P1 after the schedule ends
    delivery_concurrency: int = 16

    @classmethod
    def smoke(cls) -> Scenario:
        return cls(backlog=2_000, slow_ms=200.0, p1_rate=5.0, p1_seconds=4.0, min_backlog_arrivals=20, timeout_s=60)


def _referral(report: dict[str, Any], recipient_id: str, priority: str, now: int) -> dict[str, Any]:
    """A Referral as routing emits it, for `report` (its own case id)."""
    case_id = "case-" + uuid.uuid4().hex
    case = {"case_id": case_id, "accepted_at": now, "report": report, "linked_reports": [], "is_update": False}
    return referral_of(
        case,
        recipient_id,
        sla=86_400,
        priority=priority,
        rule_ids=["bench-priority"],
        reason="benchmark",
        preservation_request=False,
        created_at=now,
    )


def _lane(namespace: str, priority: str) -> str:
    """The broker name of the lane a referral of `priority` travels in, in this run's namespace."""
    return f"{namespace}.{lane_of(priority).topic}"


async def _produce(producer: AIOKafkaProducer, codec: Codec, namespace: str, refs: list[dict[str, Any]]) -> None:
    """Every referral to the lane of its priority, keyed by its case, as routing produces them."""
    sent = [
        await producer.send(_lane(namespace, r["priority"]), codec.encode("Referral", r), key=r["case_id"].encode())
        for r in refs
    ]
    await asyncio.gather(*sent)


async def run(scenario: Scenario, namespace: str, tuning: Tuning | None = None) -> dict[str, Any]:
    """Start a slow receiver and the notifier, load the backlog, offer the P1s; their latency and the backlog left."""
    tuning = tuning or Tuning(partitions=KafkaSettings().topic_partitions)
    codec, now = Codec(), int(time.time() * 1000)
    with temp_workdir(prefix="bench-priority-") as work:
        receiver = ReceiverProcess()
        directory, _ = write_config(work, receiver.base_url)
        ids = [r["id"] for r in yaml.safe_load(directory.read_text(encoding="utf-8"))["recipients"]]
        slow, fast = ids[0], ids[1]
        receiver.slow = (slow, scenario.slow_ms)
        write_secrets(directory, work / "secrets")
        stream = ReportStream(tag="prio")
        backlog = []
        for report in stream.take(scenario.backlog):
            backlog.append(_referral(report | {"received_at": now}, slow, "P4", now))
        n_p1 = max(1, int(scenario.p1_rate * scenario.p1_seconds))
        p1_reports = stream.take(n_p1)
        lanes = [f"{namespace}.{t}" for t in lane_topics()]
        await ensure_topics(KafkaSettings(topic_partitions=tuning.partitions), lanes)
        env = {
            **tuning.service_env(),
            "KAFKA_BOOTSTRAP_SERVERS": KafkaSettings().bootstrap_servers,
            "NOTIFIER_DIRECTORY_PATH": str(directory),
            "NOTIFIER_SECRETS_DIR": str(work / "secrets"),
            "NOTIFIER_DELIVERY_CONCURRENCY": str(scenario.delivery_concurrency),
            "OTEL_TRACES_EXPORTER": "none",
        }
        workers = Workers(work, namespace, env)
        await receiver.start()
        producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()), acks="all", linger_ms=20)
        await producer.start()
        try:
            t = time.monotonic()
            await _produce(producer, codec, namespace, backlog)
            produced_s = time.monotonic() - t
            workers.start("notifier")
            await asyncio.to_thread(workers.wait_ready, 180.0, ["notifier"])
            deadline = time.monotonic() + 300
            while len(receiver.arrivals) < scenario.min_backlog_arrivals and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            load_before = [round(x, 2) for x in os.getloadavg()]
            # the P1s, stamped with their scheduled send times and encoded before the clock starts
            start_ms = time.time() * 1000 + 500
            p1 = []
            for i, report in enumerate(p1_reports):
                due = int(start_ms + i * 1000 / scenario.p1_rate)
                p1.append(_referral(report | {"received_at": due}, fast, "P1", now))
            encoded = [
                (r["case_id"].encode(), codec.encode("Referral", r), r["case"]["report"]["received_at"]) for r in p1
            ]
            urgent, futures = _lane(namespace, "P1"), []
            for key, value, due in encoded:
                wait = due / 1000 - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                futures.append(await producer.send(urgent, value, key=key))
            await asyncio.gather(*futures)
            wanted = {r["case"]["report"]["report_id"] for r in p1}
            deadline = time.monotonic() + scenario.timeout_s
            while time.monotonic() < deadline:
                if wanted <= {a.key for a in receiver.arrivals}:
                    break
                await asyncio.sleep(0.2)
            load_after = [round(x, 2) for x in os.getloadavg()]
            latencies, p4_done = [], 0
            for a in receiver.arrivals:
                report_id, sent = a.identify()
                if report_id in wanted:
                    latencies.append(a.at_ms - sent)
                else:
                    p4_done += 1
            latencies.sort()
        finally:
            from bench.run import _delete_topics  # here: bench.run imports this module

            for stop in (producer.stop, lambda: asyncio.to_thread(workers.stop_all), receiver.stop):
                with contextlib.suppress(Exception, asyncio.CancelledError):  # each stopped, whatever the last raised
                    await stop()
            await _delete_topics(namespace)
    arrived = len(latencies)
    return {
        "scenario": asdict(scenario),
        "partitions": tuning.partitions,
        "p1_recipient": "another provincial police webhook (answers at once)",
        "p4_recipient": f"one provincial police webhook answering after {scenario.slow_ms:.0f} ms",
        "backlog_produced_seconds": round(produced_s, 1),
        "p1_sent": len(p1),
        "p1_arrived": arrived,
        "p1_lost": len(p1) - arrived,
        "p1_latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(latencies[-1], 1) if latencies else float("nan"),
        },
        "p4_delivered_by_then": p4_done,
        "p4_still_waiting": scenario.backlog - p4_done,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "latency": "receiver arrival − the P1's scheduled send time (open loop; encoded before the clock starts)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.priority", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a 2,000-referral backlog and 20 P1s")
    parser.add_argument("--backlog", type=int, help="P4 referrals waiting (default 50,000)")
    parser.add_argument("--namespace", default=f"bench-prio-{uuid.uuid4().hex[:6]}")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    scenario = Scenario.smoke() if args.smoke else Scenario()
    if args.backlog:
        scenario = Scenario(**{**asdict(scenario), "backlog": args.backlog})
    result = asyncio.run(run(scenario, args.namespace))
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
