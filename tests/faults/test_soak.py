"""Soak: a steady stream through the three real workers with short expiry windows; memory, tables, recovery.

`make test` runs a short smoke (FAULTS_SOAK_SECONDS, default 40 s at 5 reports/s, 15 s windows).
`make faults` (FAULTS_FULL=1) runs 30 minutes at FAULTS_SOAK_RATE reports/s (default 20), sampling
every worker's RSS and table sizes every 30 s and timing a kill -9 → processing-again restart of intake
and notifier near the start and near the end. Every window (dedup, correlation, referral retention) is
FAULTS_SOAK_WINDOW_SECONDS (default 120) and swept every few seconds, so entries expire all along;
referrals are acknowledged (COMPLETED) half a minute after delivery, so they close. The changelogs
roll a segment a minute so the broker compacts them during the run (soak.compact_quickly). The
figures go to FAULTS_SOAK_OUTPUT (default .local/faults/soak.txt); the books (lost = 0) are checked
at the end as in every scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from tests.support.harness import Stack, check_books, drain, generate
from tests.support.settings import FaultsSettings
from tests.support.soak import Soak, acknowledge, compact_quickly, produce_steadily, short_window_env

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.e2e]

FAULTS = FaultsSettings()
SECONDS, RATE, SAMPLE_EVERY, WINDOW = FAULTS.soak_plan()
OUTPUT = FAULTS.soak_output
CHANGELOGS = [
    ("intake", "dedup"),
    ("intake", "content"),
    ("notifier", "deliveries"),
    ("notifier", "referral_state"),
    ("notifier", "parked"),
    ("notifier", "escalations"),
    ("notifier", "breakers"),
    ("routing", "routed"),
]


def summary(soak: Soak) -> list[str]:
    """RSS and tables at start and end per worker, and the recovery times."""
    first, last = soak.samples[0], soak.samples[-1]
    lines = [f"soak: {SECONDS:.0f}s at {RATE:g} reports/s, windows {WINDOW:g} s, {len(soak.samples)} samples"]
    for name in sorted(first.rss):
        a, b = first.rss.get(name), last.rss.get(name)
        peak = max((s.rss.get(name) or 0.0) for s in soak.samples)
        lines.append(f"  {name}: RSS start {a or 0:.1f} MiB, end {b or 0:.1f} MiB, peak {peak:.1f} MiB")
        for table in sorted(last.tables.get(name, {})):
            sizes = [s.tables.get(name, {}).get(table, 0) for s in soak.samples]
            lines.append(f"    {table}: start {sizes[0]}, end {sizes[-1]}, max {max(sizes)}")
    for when, name, took in soak.recoveries:
        lines.append(f"  recovery {when}: {name} {took:.1f}s")
    return lines


@pytest.mark.timeout(int(SECONDS) + 1800)
async def test_soak_steady_stream_bounded_state(stack: Stack) -> None:
    """Memory and tables stay flat while entries expire; restart recovery at the end as at the start; lost = 0."""
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("", encoding="utf-8")
    stack.extra_env.update(short_window_env(WINDOW, sweep_s=min(10.0, WINDOW / 4)))
    await stack.start()
    await compact_quickly(stack.bootstrap, CHANGELOGS)
    assert stack.directory is not None
    n = int(SECONDS * RATE)
    stream = generate(n, stack.directory, seed=15)
    soak = Soak(stack, OUTPUT)
    soak.write(f"stream: {len(stream.records)} records, {len(stream.expected)} expected referrals")
    sampler = asyncio.create_task(soak.sampling(SAMPLE_EVERY))
    acker = asyncio.create_task(acknowledge(stack, soak))
    lead = min(60.0, SECONDS / 4)

    async def restarts(when: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - (time.monotonic() - soak.started)))
        for name in ("intake", "notifier"):
            await soak.recovery(when, name)

    producing = asyncio.create_task(produce_steadily(soak, stream.records, len(stream.records) / SECONDS))
    try:
        await restarts("start", lead)
        await restarts("end", SECONDS - lead)
        await producing
        t_end = time.monotonic()
        drained = await drain(stack, stream, 600.0)
        drain_s = time.monotonic() - t_end
        await asyncio.sleep(SAMPLE_EVERY)  # one more sample after the last expiry sweeps
    finally:
        for task in (sampler, acker, producing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    soak.sample()
    for line in summary(soak):
        soak.write(line)
    books = await check_books("soak (steady stream, short windows)", stack, stream, drained=drained, drain_s=drain_s)
    soak.write(books.row())
    assert books.lost == 0, books.problems
    assert not books.problems, "\n".join(books.problems)
