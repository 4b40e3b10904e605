"""Microbenchmark of what tracing adds to a worker's event, in process, without Kafka or a collector.

Per event, as a worker does it: Faust's process span (`ProcessSpanSensor`, parented from the incoming
record's `traceparent`), `annotate` and one `stage` with identifiers, `--sends` records produced through
the instrumented `AIOKafkaProducer.send` (its own send replaced by a no-op) and, every sixth record,
a table changelog record; spans end in the SDK's BatchSpanProcessor, whose exporter encodes each
request (`span_encoding.encode_request`) and drops it. CPU of the whole process (the exporter's
thread too), traced minus untraced, each in a fresh interpreter, and the traced event's CPU in its own thread
(`on_event_loop_us`; the rest is the export thread's). Untraced, the sensor is not called (a worker adds
it only when tracing is configured, shell.Service).

    python -m bench.tracing_path [--events 20000] [--sends 2] [--repeats 3] [--profile] [--worker] [--unsampled]
    python -m bench.tracing_path --parts [--repeats 5]
    python -m bench.tracing_path --metrics [--events 100000] [--repeats 3]

Run it on two trees (PYTHONPATH=<tree>) to compare; prints µs per event (median of the repeats).
`--worker`: the event as a worker's shell hands it to the sensor: the stream's app a Faust app (its settings read as a
worker's are), the record's headers a tuple (as aiokafka's records hold them); else stand-ins.
`--unsampled`: also the event of a report not sampled: `parentbased_traceidratio` (0.1), the record's `traceparent`
flags 00 (no span recorded, the decision carried on in the records' headers).
`--parts`: the process span's way in, part by part, the SDK's way (as before span_parent) and ours, alternating in
one process (CPU µs per call, medians): extract, span start and end, Faust's sensor in and out, and the trace
headers written for the records an event sends (once per event).
`--metrics`: what the per-event metrics cost, tracing off, in a fresh interpreter with the worker's MeterProvider
(`metrics.configure`): per event `event_in`, two `event_out`, one `count`, one `stage_latency`; `metrics.flush()`
every 1,000 events (the summary timer) and a scrape (`exposition`) every 5,000. CPU µs per event, and a digest of
the last scrape's stage-latency lines (the same on two trees: the same exported values).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from referral_devstack import processes
from referral_devstack.processes import untraced_environment

PROBE = """
import asyncio, cProfile, io, json, os, pstats, sys, time
from types import SimpleNamespace
import aiokafka

async def _no_send(self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None):
    return headers

aiokafka.AIOKafkaProducer.send = _no_send
N, SENDS, TRACED = int(os.environ["PROBE_EVENTS"]), int(os.environ["PROBE_SENDS"]), os.environ["PROBE_TRACED"] == "1"
UNSAMPLED = os.environ.get("PROBE_UNSAMPLED") == "1"
from referral_bus import tracing
from faust.types import TP
if TRACED:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from referral_bus.span_encoding import encode_request

    class Encoding(SpanExporter):
        spans = 0

        def export(self, spans):
            Encoding.spans += len(spans)
            encode_request(spans)
            return SpanExportResult.SUCCESS

    from referral_bus import span_encoding

    exporter = Encoding()
    if hasattr(span_encoding, "encodes_with_us"):  # a tree whose lean spans reach our exporter written, as a worker's
        span_encoding.encodes_with_us(exporter)
    resource = Resource.create({SERVICE_NAME: "referral-bus-probe"})
    if UNSAMPLED:  # parentbased_traceidratio: the record's parent (flags 00) decides
        from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
        provider = TracerProvider(resource=resource, sampler=ParentBasedTraceIdRatio(0.1))
    else:
        provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter, **tracing.batch_settings({})))
    trace.set_tracer_provider(provider)
    tracing.instrument_sends()
    tracing._tracer = tracing.lean_tracer(tracing.TRACER_NAME)
from referral_bus.span_keys import ProcessSpanSensor

sensor = ProcessSpanSensor()
stream = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(id="probe.referral-bus-routing")))
producer = aiokafka.AIOKafkaProducer.__new__(aiokafka.AIOKafkaProducer)
incoming = [("content-type", b"avro"), ("traceparent", b"00-" + b"4bf92f3577b34da6a3ce929d0e0e4736"
            + b"-00f067aa0ba902b7-" + (b"00" if UNSAMPLED else b"01"))]
if os.environ.get("PROBE_WORKER") == "1":  # as a worker's: its Faust app's settings, a record's headers as a tuple
    import faust
    stream, incoming = SimpleNamespace(app=faust.App("probe.referral-bus-routing")), tuple(incoming)
tp = TP("probe.referrals.cases.v1", 3)

async def event(i):
    message = SimpleNamespace(headers=incoming, key=b"k")
    ev = SimpleNamespace(message=message)
    state = sensor.on_stream_event_in(tp, i, stream, ev) if TRACED else None  # untraced: no sensor (shell.Service)
    tracing.annotate(case_id="C-2026-000123", report_id="R-77")
    with tracing.stage("routing decide", case_id="C-2026-000123", rule_ids=["r1", "r2"]):
        for s in range(SENDS):
            await producer.send("probe.referrals.referrals.v1", b"v" * 300, key=b"C-2026-000123",
                                headers=[("content-type", b"avro")])
        if i % 6 == 0:
            await producer.send("probe.referral-bus-routing-seen-changelog", b"v", key=b"k")
    tracing.mark_outcome("routed")
    if TRACED:
        sensor.on_stream_event_out(tp, i, stream, ev, state)

async def main():
    for i in range(500):
        await event(i)
    profile = cProfile.Profile() if os.environ.get("PROBE_PROFILE") else None
    t, main_thread = time.process_time(), time.thread_time()
    if profile:
        profile.enable()
    for i in range(N):
        await event(i)
    if TRACED:
        trace.get_tracer_provider().force_flush()
    if profile:
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue(), file=sys.stderr)
    return (time.process_time() - t) / N * 1e6, (time.thread_time() - main_thread) / N * 1e6

us, main_us = asyncio.run(main())
print(json.dumps({"us": us, "main_us": main_us, "spans": Encoding.spans / (N + 500) if TRACED else 0.0}))
"""


METRICS_PROBE = """
import hashlib, json, os, time
from referral_bus import metrics
metrics.configure("probe")
N = int(os.environ["PROBE_EVENTS"])

def event(i):
    metrics.event_in("routing")
    metrics.event_out("routing", "probe.referrals.referrals.v1")
    metrics.event_out("routing", "probe.referrals.decisions.v1")
    metrics.count("routing", "routed")
    metrics.stage_latency("routing", "ok" if i % 50 else "dead_lettered", 0.05 + (i % 997) * 0.0131)

for i in range(1000):
    event(i)
t = time.process_time()
for i in range(N):
    event(i)
    if i % 1000 == 999:
        metrics.flush()
    if i % 5000 == 4999:
        body = metrics.exposition()[0]
metrics.flush()
body = metrics.exposition()[0]
us = (time.process_time() - t) / N * 1e6
lines = [line for line in body.decode().splitlines() if line.startswith("referral_bus_stage_latency")]
digest = hashlib.sha256("\\n".join(lines).encode()).hexdigest()[:16]
print(json.dumps({"us": us, "series_lines": len(lines), "digest": digest}))
"""


def metrics_cost(events: int, repeats: int) -> dict[str, Any]:
    """The metrics probe in `repeats` fresh interpreters: CPU µs per event (median) and the scrape's digest."""
    tree = Path(processes.__file__).resolve().parents[1]
    env = {**untraced_environment(), "PROBE_EVENTS": str(events)}
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", METRICS_PROBE], cwd=tree, env=env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"us_per_event": round(statistics.median(r["us"] for r in runs), 2), "runs": runs}


def _variant(
    events: int, sends: int, traced: bool, profile: bool, worker: bool = False, unsampled: bool = False
) -> dict[str, float]:
    env = {**untraced_environment(), "PROBE_EVENTS": str(events), "PROBE_SENDS": str(sends)}
    env["PROBE_UNSAMPLED"] = "1" if unsampled else "0"
    env["PROBE_WORKER"] = "1" if worker else "0"
    env["PROBE_TRACED"] = "1" if traced else "0"
    if profile:
        env["PROBE_PROFILE"] = "1"
    tree = Path(processes.__file__).resolve().parents[1]  # `-c` puts the working directory first on sys.path
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    if profile:
        print(done.stderr, file=sys.stderr)
    out: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def run(
    events: int, sends: int, repeats: int, profile: bool = False, worker: bool = False, unsampled: bool = False
) -> dict[str, Any]:
    """Untraced and traced variants, interleaved; medians of `repeats` each (`worker`: the event as a worker's).

    `unsampled`: a third variant, traced under `parentbased_traceidratio` (0.1), the record's parent not sampled
    (flags 00): what an event of a report not sampled costs.
    """
    names = ("off", "on", "unsampled") if unsampled else ("off", "on")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for _ in range(repeats):
        runs["off"].append(_variant(events, sends, False, False, worker))
        runs["on"].append(_variant(events, sends, True, profile, worker))
        if unsampled:
            runs["unsampled"].append(_variant(events, sends, True, False, worker, unsampled=True))
    us = {name: statistics.median(r["us"] for r in runs[name]) for name in names}
    on_main = statistics.median(r["main_us"] for r in runs["on"])
    spans = runs["on"][-1]["spans"]
    out: dict[str, Any] = {
        "off_us": round(us["off"], 1),
        "on_us": round(us["on"], 1),
        "tracing_us_per_event": round(us["on"] - us["off"], 1),
        "on_event_loop_us": round(on_main, 1),  # the traced event's CPU in the thread that runs it, not the exporter's
        "spans_per_event": round(spans, 2),
    }
    if unsampled:
        out["unsampled_us"] = round(us["unsampled"], 1)
        out["unsampled_tracing_us_per_event"] = round(us["unsampled"] - us["off"], 1)
        out["unsampled_spans_per_event"] = round(runs["unsampled"][-1]["spans"], 2)
    return {**out, "runs": runs}


def _cpu_us(call: Any, number: int) -> float:
    """CPU µs per call of `call`, over `number` calls."""
    start = time.process_time()
    for _ in range(number):
        call()
    return (time.process_time() - start) / number * 1e6


def parts(repeats: int, number: int = 20000) -> dict[str, dict[str, float]]:
    """The process span's way in, the SDK's way and ours alternating in this process: medians of CPU µs per call."""
    from types import SimpleNamespace

    from faust.contrib.opentelemetry import OpenTelemetrySensor
    from faust.types import TP
    from opentelemetry import propagate
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import SpanKind

    from referral_bus import span_parent
    from referral_bus.lean_spans import LeanTracer
    from referral_bus.span_keys import HeaderGetter, ProcessSpanSensor

    class SdkWay(ProcessSpanSensor):
        """Faust's own in and out (propagate.extract, imports per event) over a tracer that asks the sampler."""

        on_stream_event_in = OpenTelemetrySensor.on_stream_event_in
        on_stream_event_out = OpenTelemetrySensor.on_stream_event_out

    provider = TracerProvider()
    provider.add_span_processor(SpanProcessor())  # ends nowhere: the way in only, no export
    sdk_tracer, our_tracer = LeanTracer(provider, "faust"), LeanTracer(provider, "faust")
    sdk_tracer.own_decision = False
    sdk_sensor, our_sensor = SdkWay(tracer=sdk_tracer), ProcessSpanSensor(tracer=our_tracer)
    headers = [("content-type", b"avro"), ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    event = SimpleNamespace(message=SimpleNamespace(headers=headers, key=b"k"))
    stream = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(id="probe.referral-bus-routing")))
    tp, getter = TP("probe.referrals.cases.v1", 3), HeaderGetter()
    parent = span_parent.extract(headers, getter)
    attributes = our_sensor._span_attributes(stream, event, tp, 7)

    def span(tracer: Any) -> Any:
        return lambda: tracer.start_span("p", context=parent, kind=SpanKind.CONSUMER, attributes=attributes).end()

    def in_out(sensor: Any) -> Any:
        return lambda: sensor.on_stream_event_out(tp, 7, stream, event, sensor.on_stream_event_in(tp, 7, stream, event))

    def sdk_headers() -> Any:  # tracing.trace_headers before span_parent: the propagators, their fields per call
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=parent)
        return [(k, v.encode()) for k, v in carrier.items()], frozenset(propagate.get_global_textmap().fields).union(
            carrier
        )

    def our_headers() -> Any:
        carrier = span_parent.inject(parent)
        return [(k, v.encode()) for k, v in carrier.items()], span_parent.propagator().fields.union(carrier)

    pairs = {
        "extract": (lambda: propagate.extract(headers, getter=getter), lambda: span_parent.extract(headers, getter)),
        "trace headers written": (sdk_headers, our_headers),
        "span start and end": (span(sdk_tracer), span(our_tracer)),
        "sensor in and out": (in_out(sdk_sensor), in_out(our_sensor)),
    }
    out: dict[str, dict[str, float]] = {}
    for part, (sdk, ours) in pairs.items():
        runs: dict[str, list[float]] = {"sdk": [], "ours": []}
        for _ in range(repeats):
            runs["sdk"].append(_cpu_us(sdk, number))
            runs["ours"].append(_cpu_us(ours, number))
        out[part] = {way: round(statistics.median(us), 2) for way, us in runs.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_path", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--sends", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile of the traced variant, to stderr")
    parser.add_argument("--parts", action="store_true", help="the process span's way in, the SDK's and ours")
    parser.add_argument("--metrics", action="store_true", help="the per-event metrics, tracing off")
    parser.add_argument("--worker", action="store_true", help="a Faust app's settings, the headers as a tuple")
    parser.add_argument("--unsampled", action="store_true", help="also an event of a report not sampled (ratio 0.1)")
    args = parser.parse_args(argv)
    if args.metrics:
        print(json.dumps(metrics_cost(args.events, args.repeats), indent=2))
        return 0
    if args.parts:
        print(json.dumps(parts(args.repeats), indent=2))
        return 0
    result = run(args.events, args.sends, args.repeats, args.profile, args.worker, args.unsampled)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
