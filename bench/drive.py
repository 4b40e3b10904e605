"""Offer load to a stack and measure what arrives at the receiver.

Two load shapes: an open-loop step at a fixed offered rate (reports/s for a few seconds, then
wait for the pipeline to drain), and a closed-loop "unthrottled" run that keeps a fixed number
of reports in flight for a fixed time (the pipeline's sustained capacity, without an unbounded
backlog). Latency = receiver arrival − the report's `received_at`. In the open-loop step `received_at` is
the report's *scheduled* send time (start + i / rate), and reports are generated and encoded before
the clock starts, so a driver that falls behind shows as latency (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from bench.baseline_common import SENT_KAFKA_HEADER
from bench.reports import ReportStream, kafka_key
from bench.sink import Arrivals
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs
from referral_bus.settings import KafkaSettings

Prepared = tuple[bytes, bytes, bytes, int | None]  # key, value, sent-time header, partition (None: send's pick)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


@dataclass
class Load:
    """A producer of generated reports into one intake topic."""

    topic: str
    seed: int = 20261130

    async def __aenter__(self) -> Load:
        self.codec = Codec()
        self.partitioner = DefaultPartitioner()  # the producer's (its default): murmur2 of the key
        self.producer = AIOKafkaProducer(
            **client_kwargs(KafkaSettings()), acks="all", linger_ms=5, partitioner=self.partitioner
        )
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    def prepare(self, stream: ReportStream, n: int, rate: float) -> tuple[float, list[Prepared]]:
        """`n` reports stamped with their scheduled send times and encoded: (start ms, [(key, value, sent header,
        partition)]).

        The schedule starts half a second after encoding is expected to end (timed on a sample). Each report's
        partition is picked here, by the producer's own partitioner as `send` would, once the topic's partitions
        are known (after a first send); else None, and `send` picks it.
        """
        reports = stream.take(n)
        sample = reports[: min(200, n)]
        t = time.perf_counter()
        for report in sample:
            self.codec.encode("CaseReport", report | {"received_at": 0})
        per_report_s = (time.perf_counter() - t) / max(1, len(sample))
        start_ms = time.time() * 1000 + 500 + 1500 * per_report_s * n
        known = self.producer.client.cluster.partitions_for_topic(self.topic)
        partitions = sorted(known) if known else None
        out = []
        for i, report in enumerate(reports):
            due = int(start_ms + i * 1000 / rate)
            report["received_at"] = due
            key = kafka_key(report)
            partition = self.partitioner(key, partitions, partitions) if partitions else None
            out.append((key, self.codec.encode("CaseReport", report), str(due).encode(), partition))
        return start_ms, out

    async def send_prepared(self, items: list[Prepared]) -> list[Any]:
        """Send prepared reports; returns the delivery futures."""
        send, topic = self.producer.send, self.topic
        return [
            await send(topic, value, key=key, partition=partition, headers=[(SENT_KAFKA_HEADER, sent)])
            for key, value, sent, partition in items
        ]

    async def send(self, stream: ReportStream, n: int) -> list[Any]:
        """Stamp, encode and send `n` reports; returns the delivery futures."""
        futures = []
        for report in stream.take(n):
            now = int(time.time() * 1000)
            report["received_at"] = now
            value = self.codec.encode("CaseReport", report)
            futures.append(
                await self.producer.send(
                    self.topic, value, key=kafka_key(report), headers=[(SENT_KAFKA_HEADER, str(now).encode())]
                )
            )
        return futures


def _tag(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:6]}"


async def _drain(receiver: Arrivals, expected: int, *, idle_timeout: float, max_wait: float) -> None:
    """Wait until `expected` arrivals, or no new arrival for `idle_timeout`, or `max_wait`."""
    deadline = time.monotonic() + max_wait
    last_n, last_change = len(receiver.arrivals), time.monotonic()
    while len(receiver.arrivals) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        n = len(receiver.arrivals)
        if n != last_n:
            last_n, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > idle_timeout:
            break


def per_second(arrivals: list[float], t0_ms: float, t_end_ms: float) -> list[int]:
    """Arrivals (epoch ms) counted in whole seconds from `t0_ms` up to `t_end_ms` (a last, partial second dropped)."""
    counts = [0] * max(0, int((t_end_ms - t0_ms) // 1000))
    for t in arrivals:
        if 0 <= (i := int((t - t0_ms) // 1000)) < len(counts):
            counts[i] += 1
    return counts


def by_second(timed: list[tuple[float, float]]) -> dict[str, Any]:
    """Per scheduled second from the first scheduled send: arrivals, p99 and max latency (ms; None: none arrived).

    A stall shows as a run of seconds whose reports all waited; `t0_ms` (epoch ms of the first scheduled send)
    lines them up with the workers' and the broker's logs (`python -m bench.step_series`).
    """
    if not timed:
        return {"t0_ms": None, "arrivals": [], "p99_ms": [], "max_ms": []}
    t0 = min(sent for sent, _ in timed)
    seconds: list[list[float]] = [[] for _ in range(int((max(sent for sent, _ in timed) - t0) // 1000) + 1)]
    for sent, latency in timed:
        seconds[int((sent - t0) // 1000)].append(latency)
    for lat in seconds:
        lat.sort()
    return {
        "t0_ms": round(t0),
        "arrivals": [len(lat) for lat in seconds],
        "p99_ms": [round(percentile(lat, 99), 1) if lat else None for lat in seconds],
        "max_ms": [round(lat[-1], 1) if lat else None for lat in seconds],
    }


def steady_window(arrivals: list[float], t0_ms: float, t_end_ms: float, warm_s: float, turn: int) -> float:
    """Where a closed loop's steady state starts (epoch ms): `warm_s` after its start, and not before the first
    `turn` reports (its opening burst, one turn of the loop) have arrived; at the latest at its end."""
    first = sorted(arrivals)[turn - 1] if 0 < turn <= len(arrivals) else t_end_ms
    return min(t_end_ms, max(t0_ms + warm_s * 1000, first))


def summarise(
    receiver: Arrivals,
    tag: str,
    sent: int,
    t_start_ms: float,
    window: tuple[float, float] | None = None,
    turn: int = 0,
    series: bool = False,
) -> dict[str, Any]:
    """Throughput, latency percentiles, losses and duplicates of one run (identified by its tag); with a window
    and a turn, throughput over its steady part (`steady_window`) and, for comparison, over the whole window;
    with `series`, its reports by scheduled second (`by_second`)."""
    timed: list[tuple[float, float]] = []  # (scheduled send ms, latency ms) of each report's first arrival
    arrivals: list[float] = []
    seen: Counter[str] = Counter()
    for a in receiver.arrivals:
        rid, sent_ms = a.identify()
        if not rid.startswith(tag):
            continue
        seen[rid] += 1
        if seen[rid] == 1:
            timed.append((sent_ms, a.at_ms - sent_ms))
            arrivals.append(a.at_ms)
    latencies = sorted(latency for _, latency in timed)
    delivered = len(seen)
    out: dict[str, Any] = {
        "sent": sent,
        "delivered": delivered,
        "lost": sent - delivered,
        "duplicates": sum(c - 1 for c in seen.values()),
    }
    if window is not None:
        lo, hi = window

        def rate(a: float) -> float:
            return round(sum(1 for t in arrivals if a <= t <= hi) / ((hi - a) / 1000), 1)

        steady = steady_window(arrivals, t_start_ms, hi, (lo - t_start_ms) / 1000, turn)
        steady = steady if steady < hi else lo  # not one turn arrived before the end: the whole window counts
        out["throughput_per_s"] = rate(steady)
        out["throughput_whole_window_per_s"] = rate(lo)  # the pre-steady-window figure, for comparison
        out["window_s"] = round((hi - steady) / 1000, 2)
        out["window_from_s"] = round((steady - t_start_ms) / 1000, 2)  # seconds after the run's first send
        out["per_second"] = per_second(arrivals, t_start_ms, hi)  # delivered in each second from the start
    elif len(arrivals) > 1:  # the delivery rate between first and last arrival: no start-up or tail bias
        span = (max(arrivals) - min(arrivals)) / 1000
        out["throughput_per_s"] = round((delivered - 1) / span, 1) if span > 0 else float("nan")
    else:
        out["throughput_per_s"] = 0.0
    out["latency_ms"] = {
        "p50": round(percentile(latencies, 50), 1),
        "p95": round(percentile(latencies, 95), 1),
        "p99": round(percentile(latencies, 99), 1),
        "max": round(latencies[-1], 1) if latencies else float("nan"),
        "mean": round(sum(latencies) / len(latencies), 1) if latencies else float("nan"),
    }
    if series:
        out["by_second"] = by_second(timed)
    return out


async def warm_up(load: Load, receiver: Arrivals, n: int = 20, timeout: float = 180.0) -> dict[str, Any]:
    """Send a few reports and wait for them all: every process is up and has its partitions."""
    tag = _tag("warm")
    receiver.arrivals.clear()
    t0 = time.time() * 1000
    await asyncio.gather(*await load.send(ReportStream(tag=tag), n))
    await _drain(receiver, n, idle_timeout=timeout, max_wait=timeout)
    result = summarise(receiver, tag, n, t0)
    if result["delivered"] < n:
        raise RuntimeError(f"warm-up: only {result['delivered']} of {n} reports arrived within {timeout}s")
    return result


async def pace(total: int, rate: float, t0_ms: float, take: Callable[[int, int], Awaitable[None]]) -> float:
    """Hand items [sent, due) to `take` as they fall due (the i-th at `t0_ms` + i / `rate`); the seconds taken."""
    while time.time() * 1000 < t0_ms:
        await asyncio.sleep(0.001)
    t0 = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int(rate * (time.time() * 1000 - t0_ms) / 1000) + 1)
        if due > sent:
            await take(sent, due)
            sent = due
        await asyncio.sleep(0.002)
    return time.monotonic() - t0


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection in the driver while it offers a step: its pauses would read as the bus's latency.

    The driver's full collections walked a step's prepared reports and send futures (25–94 ms, bench/results/stl.md).
    Reference counting still frees everything; what is cyclic waits for the collection after the step.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def offer(load: Load, prepared: list[Prepared], t0_ms: float, rate: float) -> tuple[list[Any], float]:
    """Send `prepared` on its schedule (`pace`) and wait for every acknowledgement, the driver's collector paused
    (`collector_paused`); the delivery futures (done) and the seconds the sending took."""
    futures: list[Any] = []

    async def send(lo: int, hi: int) -> None:
        futures.extend(await load.send_prepared(prepared[lo:hi]))

    with collector_paused():
        offered_s = await pace(len(prepared), rate, t0_ms, send)
        await asyncio.gather(*futures)
    return futures, offered_s


async def fixed_rate(
    load: Load, receiver: Arrivals, rate: float, seconds: float, *, drain_s: float = 180.0
) -> dict[str, Any]:
    """Open loop: offer `rate` reports/s for `seconds`, then wait for the pipeline to drain.

    Every report carries its scheduled send time; latency counts from it, not from when the driver
    got round to sending it.
    """
    tag = _tag(f"r{int(rate)}")
    stream = ReportStream(seed=load.seed, tag=tag)
    receiver.arrivals.clear()
    total = int(rate * seconds)
    t0_ms, prepared = load.prepare(stream, total, rate)
    _, offered_s = await offer(load, prepared, t0_ms, rate)
    await _drain(receiver, total, idle_timeout=15.0, max_wait=drain_s)
    out = summarise(receiver, tag, total, t0_ms, series=True)
    out |= {"offered_per_s": rate, "offered_actual_per_s": round(total / offered_s, 1), "seconds": seconds}
    out["sustained"] = out["lost"] == 0 and out["throughput_per_s"] >= 0.9 * rate
    return out


async def closed_loop(
    load: Load, receiver: Arrivals, seconds: float, *, in_flight: int = 500, warm_s: float = 3.0, drain_s: float = 180.0
) -> dict[str, Any]:
    """Unthrottled: keep `in_flight` reports between produce and arrival for `seconds`; count the steady window."""
    tag = _tag("max")
    stream = ReportStream(seed=load.seed, tag=tag)
    receiver.arrivals.clear()
    futures: list[Any] = []
    t0 = time.monotonic()
    t0_ms = time.time() * 1000
    sent = 0
    while time.monotonic() - t0 < seconds:
        room = in_flight - (sent - len(receiver.arrivals))
        if room > 0:
            n = min(room, 200)
            futures += await load.send(stream, n)
            sent += n
        await asyncio.sleep(0.002)
    t_end_ms = time.time() * 1000
    await asyncio.gather(*futures)
    await _drain(receiver, sent, idle_timeout=15.0, max_wait=drain_s)
    out = summarise(receiver, tag, sent, t0_ms, window=(t0_ms + warm_s * 1000, t_end_ms), turn=in_flight)
    out |= {"offered_per_s": None, "in_flight": in_flight, "seconds": seconds}
    return out
