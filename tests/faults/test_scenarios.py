"""Fault scenarios: kill, restart, outage and poison, with the books checked after each.

The short versions (a few hundred reports) run in `make test`; the full suite (>= 5,000 reports per
scenario, every scenario) runs with FAULTS_FULL=1, which `make faults` sets. FAULTS_N overrides the
number of reports of the full scenarios, FAULTS_BACKLOG_N the backlog scenario's.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from pathlib import Path

import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack import broker
from referral_devstack.reading import read_topic
from tests.support.harness import (
    FULL,
    Fault,
    Stack,
    check_books,
    drain,
    ensure_namespace_topics,
    generate,
    log,
    produce_raw,
    produce_stream,
    report_of,
    webhook_only_directory,
)
from tests.support.settings import FaultsSettings

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.e2e]

full_only = pytest.mark.skipif(not FULL, reason="full fault suite: FAULTS_FULL=1 (make faults)")

FAULTS = FaultsSettings()
SHORT_N, FULL_N, BACKLOG_N = FAULTS.short_n, FAULTS.n, FAULTS.backlog_n


def spread(n: int, cap: float) -> float:
    """How long to stretch a stream of n reports over, so faults land in the middle of it."""
    return min(cap, max(15.0, n / 40))


def drain_timeout(stream_len: int) -> float:
    """Generous deadline for the pipeline to catch up (the machine is shared)."""
    return 240.0 + stream_len * 0.25


async def run_stream(stack: Stack, n: int, faults: list[Fault], *, duration: float, seed: int) -> tuple:
    """Generate, produce with faults, wait for the faults to finish and the pipeline to drain."""
    assert stack.directory is not None
    stream = generate(n, stack.directory, seed=seed)
    log(f"stream: {len(stream.records)} records, {len(stream.expected)} expected referrals")
    async with stack.supervised():
        tasks = await produce_stream(stack.bootstrap, stream.records, faults, duration=duration)
        t_end = time.monotonic()
        await asyncio.gather(*tasks)
        drained = await drain(stack, stream, drain_timeout(len(stream.records)))
    return stream, drained, time.monotonic() - t_end


def kills(stack: Stack, n_records: int, services: list[str], sig: int, *, rounds: int, seed: int) -> list[Fault]:
    """Each service in turn, `rounds` times, at random points spread over the stream."""
    rng = random.Random(seed)
    plan = [s for _ in range(rounds) for s in services]
    slot = n_records / (len(plan) + 1)
    return [
        Fault(int(slot * (i + 0.5 + rng.random())), lambda name=name: stack.bounce(name, sig), f"{sig} {name}")
        for i, name in enumerate(plan)
    ]


def assert_books(books) -> None:
    assert books.lost == 0, books.problems
    assert not books.problems, "\n".join(books.problems)


# --------------------------------------------------------------------------- short (make test)


async def test_kill9_each_worker_short(stack: Stack) -> None:
    """kill -9 of intake, routing and notifier once each, at random moments, restarted: nothing lost."""
    await stack.start()
    faults = kills(stack, SHORT_N, ["intake", "routing", "notifier"], signal.SIGKILL, rounds=1, seed=1)
    stream, drained, drain_s = await run_stream(stack, SHORT_N, faults, duration=20, seed=1)
    books = await check_books("kill -9 each worker (short)", stack, stream, drained=drained, drain_s=drain_s)
    assert_books(books)


async def test_poison_in_each_topic_short(stack: Stack) -> None:
    """Garbage in every partition of cases, both referrals and retry lanes, acks: dead-lettered, partitions move on."""
    await ensure_namespace_topics(stack.bootstrap)
    poisoned = [topics.CASES, topics.REFERRALS, topics.REFERRALS_URGENT, topics.ACKS, topics.RETRY, topics.RETRY_URGENT]
    n_poison = 0
    for contract in poisoned:
        await produce_raw(
            stack.bootstrap, topics.name(contract), [(b"poison", b"\x01poison" + bytes([p]), p) for p in range(4)]
        )
        n_poison += 4
    await stack.start()
    stream, drained, drain_s = await run_stream(stack, SHORT_N // 2, [], duration=5, seed=2)
    books = await check_books(
        "poison message in each topic (short)",
        stack,
        stream,
        drained=drained,
        drain_s=drain_s,
        extra_dead_letters=n_poison,
    )
    codec = Codec()
    letters = [
        codec.decode(r.value, "DeadLetter")
        for r in await read_topic(
            topics.name(topics.DEADLETTER), until=lambda rs: False, timeout=5, bootstrap=stack.bootstrap
        )
    ]
    for contract in poisoned:
        mine = {
            (d["source_partition"], d["original_value"]) for d in letters if d["source_topic"] == topics.name(contract)
        }
        assert mine == {(p, b"\x01poison" + bytes([p])) for p in range(4)}, contract
        assert all(d["reason"] == "undecodable" for d in letters if d["source_topic"] == topics.name(contract))
    books.notes.append(f"{n_poison} poison messages dead-lettered ({', '.join(poisoned)})")
    assert_books(books)


# --------------------------------------------------------------------------- full (make faults)


@full_only
@pytest.mark.timeout(3600)
@pytest.mark.parametrize(
    ("scenario", "sig", "rounds", "seed", "cap_s", "redeliveries"),
    [
        # kill -9 of each worker in turn, twice, at random moments of a long stream
        ("kill -9 each worker x2", signal.SIGKILL, 2, 3, 120, None),
        # graceful restarts: nothing lost; redeliveries reported (only in-flight ones expected)
        ("SIGTERM restart each worker", signal.SIGTERM, 1, 4, 90, "after graceful restarts"),
    ],
    ids=["kill9_each_worker_repeatedly", "sigterm_restart_each_worker"],
)
async def test_each_worker_stopped_in_turn(
    stack: Stack, scenario: str, sig: int, rounds: int, seed: int, cap_s: float, redeliveries: str | None
) -> None:
    """Each worker stopped by `sig` in turn, `rounds` times, at random moments of a long stream: nothing lost."""
    await stack.start()
    faults = kills(stack, FULL_N, ["intake", "routing", "notifier"], sig, rounds=rounds, seed=seed)
    stream, drained, drain_s = await run_stream(stack, FULL_N, faults, duration=spread(FULL_N, cap_s), seed=seed)
    books = await check_books(scenario, stack, stream, drained=drained, drain_s=drain_s)
    if redeliveries is not None:
        books.notes.append(f"{books.redelivered} redeliveries {redeliveries}")
    assert_books(books)


@full_only
@pytest.mark.timeout(3600)
async def test_replicas_one_killed(stack: Stack) -> None:
    """Two replicas of each service in one group; one of each killed -9 and not restarted: the other takes over."""
    await stack.start()
    for s in ("intake", "routing", "notifier"):
        await stack.start_worker(f"{s}-1", replica=1)

    async def kill_replica(name: str) -> None:
        log(f"SIGKILL {name} (not restarted)")
        await stack.stop_worker(name, signal.SIGKILL)

    rng = random.Random(5)
    faults = [
        Fault(int(FULL_N * (0.2 + 0.2 * i + 0.1 * rng.random())), lambda n=f"{s}-1": kill_replica(n))
        for i, s in enumerate(("intake", "routing", "notifier"))
    ]
    stream, drained, drain_s = await run_stream(stack, FULL_N, faults, duration=spread(FULL_N, 90), seed=5)
    books = await check_books("2 replicas each, one killed", stack, stream, drained=drained, drain_s=drain_s)
    assert_books(books)


@full_only
@pytest.mark.timeout(3600)
async def test_broker_stop_and_restart(namespace: str) -> None:
    """Our OWN broker (never the shared one) stopped and restarted mid-stream."""
    from referral_devstack.workers import free_port_pair, temp_workdir

    with temp_workdir("faults-broker-") as work:
        own = broker.LocalBroker(port=free_port_pair(), state_dir=Path(work) / "kafka")
        log(await asyncio.to_thread(broker.start, own))
        stack = Stack(work=Path(work), namespace=namespace, bootstrap=own.bootstrap)
        try:
            await stack.start()
            gate = asyncio.Event()
            gate.set()

            async def outage() -> None:
                async with stack._fault_lock:
                    gate.clear()  # the agency's producer waits while the broker is down
                    t0 = time.monotonic()
                    log(await asyncio.to_thread(broker.stop, own))
                    await asyncio.sleep(10)  # the outage itself
                    log(await asyncio.to_thread(broker.start, own))
                    gate.set()
                    stack.recoveries.append(time.monotonic() - t0)

            stream = generate(FULL_N, stack.directory or Path(), seed=6)
            async with stack.supervised():
                tasks = await produce_stream(
                    own.bootstrap,
                    stream.records,
                    [Fault(len(stream.records) // 2, outage)],
                    duration=spread(FULL_N, 90),
                    gate=gate,
                )
                t_end = time.monotonic()
                await asyncio.gather(*tasks)
                drained = await drain(stack, stream, drain_timeout(len(stream.records)))
            books = await check_books(
                "broker stop/restart (own broker)", stack, stream, drained=drained, drain_s=time.monotonic() - t_end
            )
            books.notes.append(f"workers that exited during the outage and were restarted: {stack.restarts}")
            assert_books(books)
        finally:
            stack.close_sync()
            await asyncio.to_thread(broker.stop, own)


@full_only
@pytest.mark.timeout(3600)
async def test_recipient_down_then_back(stack: Stack) -> None:
    """One recipient answers 503 for a while, then 200: everything delivered after it returns (needs retries)."""
    await stack.start()
    down = "vn-police-cybercrime"
    stack.receiver.set_behaviour(down, lambda n: 503)

    async def back_up() -> None:
        await asyncio.sleep(20)
        log(f"{down} is back")
        stack.receiver.set_behaviour(down, None)

    stream, drained, drain_s = await run_stream(
        stack, FULL_N // 5, [Fault(0, back_up)], duration=spread(FULL_N, 30), seed=7
    )
    assert_books(await check_books("recipient down 20s, then back", stack, stream, drained=drained, drain_s=drain_s))


@full_only
@pytest.mark.timeout(3600)
async def test_backlog_with_routing_stopped(stack: Stack) -> None:
    """A large backlog queued while routing is stopped; routing then catches up; its peak memory is reported."""
    await stack.start(services=("intake", "notifier"))
    assert stack.directory is not None
    stream = generate(BACKLOG_N, stack.directory, seed=8)
    log(f"backlog: {len(stream.records)} records while routing is stopped")
    await produce_stream(stack.bootstrap, stream.records, [], batch=500)
    t0 = time.monotonic()
    await stack.start_worker("routing")
    peak = 0.0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, stack.peak_rss_mb("routing") or 0.0)
            await asyncio.sleep(1)

    sampler = asyncio.create_task(sample())
    drained = await drain(stack, stream, drain_timeout(len(stream.records)))
    sampler.cancel()
    books = await check_books(
        f"backlog {BACKLOG_N} (routing stopped)", stack, stream, drained=drained, drain_s=time.monotonic() - t0
    )
    books.notes.append(f"routing worker peak RSS {peak:.0f} MiB")
    assert_books(books)


def test_webhook_only_directory_rewrites_every_channel(tmp_path: Path) -> None:
    """The harness's directory: every recipient is a webhook at the receiver (keeps the books to one channel)."""
    import yaml

    out = webhook_only_directory(tmp_path / "r.yaml", "http://127.0.0.1:1/agencies")
    data = yaml.safe_load(out.read_text())
    assert {r["channel"]["type"] for r in data["recipients"]} == {"webhook"}


STAYS_DOWN_POLICY = {
    "NOTIFIER_MAX_ATTEMPTS": "3",
    "NOTIFIER_BACKOFF_BASE_SECONDS": "0.5",
    "NOTIFIER_BACKOFF_MAX_SECONDS": "2",
    "NOTIFIER_BREAKER_RESET_SECONDS": "2",
    "NOTIFIER_MAX_RETRY_AGE_SECONDS": "45",
}


@full_only
@pytest.mark.timeout(3600)
async def test_recipient_stays_down(stack: Stack) -> None:
    """One recipient answers 503 for good: its referrals end dead-lettered with a reason; others unaffected.

    The retry policy is made short through the notifier's settings: 3 attempts with sub-second
    backoff, the circuit breaker probing every 2 s, and a 45 s age limit, which is what ends the
    referrals held back by the open breaker (its deferrals are not attempts).
    """
    stack.extra_env.update(STAYS_DOWN_POLICY)
    await stack.start()
    assert stack.directory is not None
    n = max(100, FULL_N // 10)
    stream = generate(n, stack.directory, seed=9)
    down = "vn-police-cybercrime"
    stack.receiver.set_behaviour(down, lambda attempt: 503)
    await produce_stream(stack.bootstrap, stream.records, duration=10)
    others = {p for p in stream.expected if p[1] != down}
    mine = {p for p in stream.expected if p[1] == down}
    drained = await drain(stack, stream, drain_timeout(len(stream.records)), expected=others)
    codec = Codec()

    def dead(rs: list) -> dict[tuple[str, str], str]:
        out = {}
        for r in rs:
            d = codec.decode(r.value, "DeadLetter")
            if d["stage"] == "notifier" and d["original_value"]:
                with contextlib.suppress(Exception):
                    ref = codec.decode(d["original_value"], "Referral")
                    # the reason and the first clause of the message: "delivery_failed: gave up after 3 attempt(s)"
                    out[(report_of(ref), ref["recipient_id"])] = f"{d['reason']}: {d['message'].split(';')[0]}"
        return out

    t0 = time.monotonic()
    letters: dict[tuple[str, str], str] = {}
    while time.monotonic() - t0 < 600 and not mine <= set(letters):
        raw = await read_topic(
            topics.name(topics.DEADLETTER),
            until=lambda rs: mine <= set(dead(rs)),
            timeout=30,
            bootstrap=stack.bootstrap,
        )
        letters = dead(raw)
    from tests.support.harness import RESULTS, Books, delivered_pairs

    got = set(delivered_pairs(stack.receiver.deliveries()))
    cases = await read_topic(
        topics.name(topics.CASES), until=lambda rs: len(rs) >= len(stream.valid), timeout=60, bootstrap=stack.bootstrap
    )
    b = Books(
        "recipient stays down",
        produced=len(stream.records),
        accepted=len({report_of(codec.decode(r.value, "Case")) for r in cases} & set(stream.valid)),
        duplicates=stream.duplicates,
        expected=len(others),
        delivered=len(others & got),
        lost=len(others - got) + len(mine - set(letters)),
        dead_lettered=len(mine & set(letters)),
        drain_s=time.monotonic() - t0,
    )
    b.notes.append(
        f"{len(mine)} referrals for {down} (down for good): {len(mine & set(letters))} dead-lettered, "
        f"reasons {sorted(set(letters.values()))}; expected/delivered count the other recipients, "
        "dead-l. the referrals for the recipient that is down"
    )
    RESULTS.append(b)
    assert drained, "other recipients were held up by the one that is down"
    assert mine <= set(letters), f"{len(mine - set(letters))} referrals for {down} neither delivered nor dead-lettered"
    assert not (got & mine)
