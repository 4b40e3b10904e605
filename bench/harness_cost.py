"""CPU per report of the bench's own processes, in isolation: the load driver and the webhook receiver.

    python -m bench.harness_cost driver [--n 10000] [--rate 1000] [--profile out.prof]
    python -m bench.harness_cost receiver [--n 10000] [--rate 1000] [--client ours|aiokafka]

`driver`: `Load.prepare` then `drive.offer` of n reports at the paced rate into a fresh 4-partition topic on the
broker (KAFKA_BOOTSTRAP_SERVERS), as `fixed_rate` does; CPU of this process (os.times) ÷ n, for the preparing and
for the sending (until every delivery is acknowledged). `receiver`: `ReceiverProcess` (`python -m bench.sink`) as
a child; n POSTs at the paced rate over keep-alive, either the notifier's client with a signed `full`-profile
document of a bench report (`ours`) or the aiokafka baseline's aiohttp client with its headers (`aiokafka`); CPU
of the child (/proc) ÷ n, and of this process's reading of the child's lines. Compare trees in one window (A B B A).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench import accounting
from bench.baseline_common import SENT_KAFKA_HEADER, AiohttpPoster
from bench.drive import Load, offer, pace
from bench.reports import ReportStream, kafka_key
from bench.sink import ReceiverProcess
from referral_bus import event_loop
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import KafkaSettings


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


async def driver(n: int, rate: float, profile_to: str | None) -> dict[str, Any]:
    """µs of this process's CPU per report: preparing n reports, then offering them at `rate` into a fresh topic."""
    topic = f"bench-harness-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(topic_partitions=4)
    await ensure_topics(kafka, [topic])
    try:
        async with Load(topic) as load:
            await asyncio.gather(*await load.send_prepared(load.prepare(ReportStream(tag="warm"), 200, rate)[1]))
            c0 = _cpu()
            t0_ms, prepared = load.prepare(ReportStream(tag=topic), n, rate)
            c1 = _cpu()
            profile = cProfile.Profile() if profile_to else None
            if profile:
                profile.enable()
            _, offered_s = await offer(load, prepared, t0_ms, rate)  # every delivery acknowledged
            c2 = _cpu()
            if profile and profile_to:
                profile.disable()
                profile.dump_stats(profile_to)
    finally:
        from bench.routing_drain import delete_topics

        await delete_topics(client_kwargs(kafka), topic)
    return {
        "n": n,
        "rate": rate,
        "offered_per_s": round(n / offered_s, 1),
        "prepare_us_per_report": round((c1 - c0) / n * 1e6, 1),
        "send_us_per_report": round((c2 - c1) / n * 1e6, 1),
    }


def _ours_requests(n: int, tag: str) -> list[tuple[bytes, dict[str, str]]]:
    """n signed webhook bodies as the notifier sends them: a `full` document of a bench report each."""
    from services.notifier.payload import document
    from services.notifier.redaction import load_profiles
    from services.notifier.signing import signed_headers
    from tests.support.notifier import case, referral_of

    profile = load_profiles()["full"]
    out = []
    for i, report in enumerate(ReportStream(tag=tag).take(n)):
        c = case()
        c["report"] = c["report"] | report | {"received_at": int(time.time() * 1000) + i}
        referral = referral_of(c, "vn-police-hanoi", sla=3600, priority="P2")
        body = document(referral, profile).body()
        headers = {"Content-Type": "application/json", **signed_headers("secret", referral["referral_id"], body)}
        out.append((body, headers | {"User-Agent": "referral-bus-notifier/1"}))
    return out


async def _client(kind: str, url: str, n: int, tag: str) -> tuple[Callable[[int], Awaitable[Any]], Callable[[], Any]]:
    """(post the i-th request, close) for the notifier's client or the baseline's."""
    if kind == "ours":
        from services.notifier.http_client import HttpClient

        requests = _ours_requests(n + 100, tag)
        http = HttpClient(verify_tls=False)

        async def post_ours(i: int) -> Any:
            return await http.post(url, requests[i][0], requests[i][1], 10.0)

        return post_ours, http.close
    codec, poster = Codec(), AiohttpPoster()
    records = []
    for report in ReportStream(tag=tag).take(n + 100):
        report["received_at"] = int(time.time() * 1000)
        sent = str(report["received_at"]).encode()
        records.append((kafka_key(report), codec.encode("CaseReport", report), [(SENT_KAFKA_HEADER, sent)]))

    async def post_baseline(i: int) -> Any:
        key, value, headers = records[i]
        return await poster.post(url, key, value, headers)

    return post_baseline, poster.close


async def receiver(n: int, rate: float, kind: str) -> dict[str, Any]:
    """CPU of the receiver child per POST (µs), n POSTs at `rate` after 100 unmeasured ones."""
    sink = ReceiverProcess()
    await sink.start()
    tag = f"h{uuid.uuid4().hex[:6]}"
    post, close = await _client(kind, f"{sink.base_url}/vn-police-hanoi", n, tag)
    try:
        await asyncio.gather(*(post(n + i) for i in range(100)))
        await _until(lambda: len(sink.arrivals) >= 100)
        assert sink.pid is not None
        child0, own0 = accounting.cpu_seconds(sink.pid) or 0.0, _cpu()
        tasks: list[asyncio.Future[Any]] = []

        async def start(lo: int, hi: int) -> None:
            tasks.extend(asyncio.ensure_future(post(i)) for i in range(lo, hi))

        offered_s = await pace(n, rate, time.time() * 1000, start)
        await asyncio.gather(*tasks)
        await _until(lambda: len(sink.arrivals) >= n + 100)
        child1, own1 = accounting.cpu_seconds(sink.pid) or 0.0, _cpu()
        ids = {a.identify()[0] for a in sink.arrivals}
    finally:
        await close()
        await sink.stop()
    return {
        "client": kind,
        "n": n,
        "offered_per_s": round(n / offered_s, 1),
        "identified": sum(1 for i in ids if i.startswith(tag)),
        "receiver_us_per_post": round((child1 - child0) / n * 1e6, 1),
        "client_process_us_per_post": round((own1 - own0) / n * 1e6, 1),  # the posts and the reading of lines
    }


async def _until(done: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the receiver did not report every POST")
        await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("driver", "receiver"))
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--client", choices=("ours", "aiokafka"), default="ours")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    if args.what == "driver":
        result = event_loop.run(driver(args.n, args.rate, args.profile))
    else:
        result = event_loop.run(receiver(args.n, args.rate, args.client))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
