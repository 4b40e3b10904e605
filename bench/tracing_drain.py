"""A worker's drain (`bench.routing_drain`, `bench.notifier_drain`) with its spans exported over OTLP/HTTP, and without.

    python -m bench.tracing_drain [--cases 3000] [--order off,on,on,off] [--profile DIR] [--notifier] [--parented]

Each run is `routing_drain.drain` (one routing worker, N cases, CPU ms per case from /proc, idle subtracted); an
`on` run's worker exports every span to a local sink process (each request read and answered 200, as a collector
takes it), an `off` run's has `OTEL_TRACES_EXPORTER=none`. Prints one JSON line per run, with its load average.
`--profile DIR`: py-spy raw stacks of each run's drain in DIR (`<n>-<variant>.txt`; routing only).
Routing's runs also give the worker's CPU seconds by thread over its whole life (`threads_cpu_s`: the event loop's
thread, and the others: with tracing on, the span processor's export thread).
`--parented`: each case carries a `traceparent` (a new sampled trace each), as intake writes it, so routing's process
span has a remote parent as in the pipeline (without, each is a root).
`--notifier`: the notifier's drain instead (N referrals delivered to a local webhook receiver; the OTEL_* variables
of this process reach its worker).
Run the file by path with `PYTHONPATH=<tree>` to measure that tree's worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench import notifier_drain, routing_drain
from bench.tracing_cost import SINK
from referral_devstack.processes import untraced_environment
from referral_devstack.workers import Workers, free_port


def traced_env(port: int) -> dict[str, str]:
    """A worker's OTLP/HTTP export to the sink on `port`."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }


class ThreadCpu:
    """A routing worker's CPU seconds by thread (/proc/PID/task), the last reading before it exits.

    `main`: the event loop's thread; `others`: the rest (with tracing on, the span processor's export thread).
    """

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def watch(self, workers: Workers) -> None:
        """Read the routing worker's threads every 0.2 s from its start until it exits (a daemon thread)."""
        threading.Thread(target=self._poll, args=(workers,), daemon=True).start()

    def _poll(self, workers: Workers) -> None:
        deadline = time.monotonic() + 60
        while "routing" not in workers.procs and time.monotonic() < deadline:
            time.sleep(0.05)
        proc = workers.procs.get("routing")
        tick, seen = os.sysconf("SC_CLK_TCK"), {}  # each thread's last reading: an ended thread leaves /proc
        while proc is not None and proc.poll() is None:
            try:
                for task in Path(f"/proc/{proc.pid}/task").iterdir():
                    fields = (task / "stat").read_text().rpartition(")")[2].split()  # utime, stime: 12th, 13th
                    seen[task.name] = (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                pass  # a thread or the process ended between two readings
            main = seen.get(str(proc.pid), 0.0)
            self.last = {"main": main, "others": sum(seen.values()) - main}
            time.sleep(0.2)


class Parented(AIOKafkaProducer):  # type: ignore[misc]  # aiokafka has no type hints
    """The drain's producer: each record with a `traceparent` of its own (sampled), as intake's span writes it."""

    async def send(self, topic: str, value: Any = None, key: Any = None, **more: Any) -> Any:
        parent = ("traceparent", f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01".encode())
        return await super().send(topic, value, key, headers=[*(more.pop("headers", None) or ()), parent], **more)


def run(
    cases: int, order: list[str], profile: Path | None = None, notifier: bool = False, parented: bool = False
) -> list[dict[str, Any]]:
    """One drain per entry of `order` (`on`: traced, `off`: not), in that order."""
    if parented:
        setattr(routing_drain, "AIOKafkaProducer", Parented)  # noqa: B010 - the drain's producer, with the headers
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)], env=untraced_environment())
    out = []
    try:
        time.sleep(0.5)
        for n, variant in enumerate(order):
            extra = traced_env(port) if variant == "on" else {}
            threads = ThreadCpu()

            def workers(
                work: Any,
                namespace: str,
                env: dict[str, str],
                extra: dict[str, str] = extra,
                threads: ThreadCpu = threads,
            ) -> Workers:
                started = Workers(work, namespace, {**env, **extra})
                threads.watch(started)
                return started

            setattr(routing_drain, "Workers", workers)  # noqa: B010 - the drain's worker, with the export
            before = [round(x, 1) for x in os.getloadavg()]
            stacks = profile / f"{n}-{variant}.txt" if profile else None
            if notifier:
                for name in traced_env(port):
                    os.environ.pop(name, None)
                os.environ.update(extra or {"OTEL_TRACES_EXPORTER": "none"})
                result = asyncio.run(notifier_drain.drain(cases))
            else:
                result = asyncio.run(routing_drain.drain(cases, stacks))
            if threads.last:
                result["threads_cpu_s"] = {k: round(v, 2) for k, v in threads.last.items()}  # worker's whole life
            out.append({"variant": variant, "parented": parented, "load_before": before, **result})
            print(json.dumps(out[-1]), flush=True)
    finally:
        sink.terminate()
        sink.wait(10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--order", default="off,on,on,off")
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks of each drain into this folder")
    parser.add_argument("--notifier", action="store_true", help="the notifier's drain instead of routing's")
    parser.add_argument("--parented", action="store_true", help="routing's cases with a traceparent each")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    run(args.cases, args.order.split(","), args.profile, args.notifier, args.parented)


if __name__ == "__main__":
    main()
