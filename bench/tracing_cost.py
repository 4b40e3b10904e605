"""What tracing costs per record, in CPU µs of the process (all its threads: the exporter's too).

Load-robust where end-to-end throughput on a shared machine is not: CPU time (`time.process_time`)
of real aiokafka sends and receives against the real broker, with the kernel's tracing set-up as a
worker has it (send spans, Faust's process span through `ProcessSpanSensor`, one stage span with
identifiers, OTLP/HTTP export to a sink in another process), against the same work untraced.

    python -m bench.tracing_cost [--records 3000] [--repeats 3]

Each variant runs in a fresh interpreter (tracing set-up is process-global); run it from a tree
(PYTHONPATH) to measure that tree's code. Prints one JSON object: µs per record for sending,
receiving + processing, and exporting (the flush after), traced and untraced, and the differences.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from typing import Any

from referral_devstack.processes import untraced_environment
from referral_devstack.workers import free_port

SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

PROBE = """
import asyncio, json, os, time
from types import SimpleNamespace
from referral_bus import tracing
tracing.configure("cost-probe")
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.types import TP
from referral_bus.span_keys import ProcessSpanSensor

from referral_bus.settings import KafkaSettings
N, TOPIC, SERVERS = int(os.environ["PROBE_RECORDS"]), os.environ["PROBE_TOPIC"], KafkaSettings().bootstrap_servers
sensor = ProcessSpanSensor()
stream = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(id="cost-probe-group")))


async def main():
    from referral_bus.kafka import ensure_topics
    await ensure_topics(KafkaSettings(), [TOPIC])
    producer = AIOKafkaProducer(bootstrap_servers=SERVERS, linger_ms=5)
    await producer.start()
    for attempt in range(60):  # a topic just created may take a while to show in the metadata on a busy broker
        try:
            await producer.send_and_wait(TOPIC, b"warm", key=b"case-warm")
            break
        except Exception:
            await asyncio.sleep(1)
    t = time.process_time()
    with tracing.stage_span("cost produce"):
        futs = [await producer.send(TOPIC, b"x" * 600, key=f"case-{i % 97}".encode(), headers=[("h", b"1")])
                for i in range(N)]
    sent = time.process_time() - t
    await asyncio.gather(*futs)
    await producer.stop()
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=SERVERS, auto_offset_reset="earliest")
    await consumer.start()
    seen, busy = 0, 0.0
    while seen < N + 1:
        t = time.process_time()
        got = await consumer.getmany(timeout_ms=1000, max_records=500)
        for tp, records in got.items():
            for r in records:
                event = SimpleNamespace(message=SimpleNamespace(headers=r.headers, key=r.key))
                state = sensor.on_stream_event_in(TP(tp.topic, tp.partition), r.offset, stream, event)
                tracing.annotate(case_id=r.key.decode())
                with tracing.stage("cost stage", case_id=r.key.decode()):
                    tracing.annotate(report_id="R-1")
                    tracing.mark_outcome("accepted")
                sensor.on_stream_event_out(TP(tp.topic, tp.partition), r.offset, stream, event, state)
                seen += 1
        busy += time.process_time() - t
    await consumer.stop()
    from aiokafka.admin import AIOKafkaAdminClient
    admin = AIOKafkaAdminClient(bootstrap_servers=SERVERS)
    await admin.start()
    await admin.delete_topics([TOPIC])
    await admin.close()
    t = time.process_time()
    tracing.shutdown()
    flushed = time.process_time() - t
    print(json.dumps({"send_us": sent / N * 1e6, "receive_process_us": busy / N * 1e6, "flush_us": flushed / N * 1e6}))


asyncio.run(main())
"""


def _variant(records: int, otlp: str | None) -> dict[str, float]:
    env = {
        **untraced_environment(),
        "PROBE_RECORDS": str(records),
        "PROBE_TOPIC": f"bench-tracing-cost-{uuid.uuid4().hex[:8]}",
    }
    if otlp:
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_TRACES_EXPORTER": "otlp"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    out: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def run(records: int, repeats: int) -> dict[str, Any]:
    """Traced and untraced variants, interleaved; medians of `repeats` each."""
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    time.sleep(1)
    try:
        runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        for _ in range(repeats):
            runs["off"].append(_variant(records, None))
            runs["on"].append(_variant(records, f"http://127.0.0.1:{port}"))
    finally:
        sink.terminate()
        sink.wait()

    def median(name: str, key: str) -> float:
        values = sorted(r[key] for r in runs[name])
        return round(values[len(values) // 2], 1)

    keys = ("send_us", "receive_process_us", "flush_us")
    result: dict[str, Any] = {k: {"off": median("off", k), "on": median("on", k)} for k in keys}
    result["tracing_us_per_record"] = round(sum(result[k]["on"] - result[k]["off"] for k in keys), 1)
    result["runs"] = runs
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.records, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
