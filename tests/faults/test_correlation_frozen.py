"""Correlation with two intake workers when one freezes past its group session: a zombie for a moment.

A worker that stops answering (here SIGSTOP, in production a long GC pause, a starved container) is put
out of the group after its session; the other worker takes its partitions and recovers their tables while
the frozen one, woken, still believes it holds them until its next heartbeat. Reports arrive all the while.
Every report must still get its Case, the first agency's its own, the second agency's joined to it, with
correlation here on (`INTAKE_LOCAL_CORRELATION`, decided on the worker holding the keys) or off (the hops).
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from referral_bus.topic_catalog import changelog
from referral_devstack.reading import read_topic
from referral_devstack.workers import Workers, running
from tests.support.splitcases import AGENCY_A, AGENCY_B, content, explain, outcomes, report, send, wait_cases, wrong

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

N = 8  # contents per freeze
SESSION_S = 10  # the test-only group session (tests/conftest.py): frozen longer than that, a worker is put out


async def frozen(workers: Workers, name: str, seconds: float) -> None:
    """Freeze a worker process for `seconds` (SIGSTOP), then let it run on (SIGCONT)."""
    pid = workers.procs[name].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("local", ["true", "false"])
@pytest.mark.parametrize("victim", ["intake", "intake-1"])
async def test_a_worker_frozen_past_its_session_loses_and_doubles_no_case(
    kafka: str, namespace: str, local: str, victim: str
) -> None:
    firsts = [report(AGENCY_A, sha, url) for sha, url in content(2 * N)]
    seconds = [report(AGENCY_B, a["content_hashes"][0]["value"], None) for a in firsts]
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, "INTAKE_LOCAL_CORRELATION": local}
    with running(namespace, env, "intake", prefix="corr-frozen-") as workers:
        workers.start("intake", replica=1)
        workers.wait_ready(names=["intake-1"])
        await send(kafka, firsts[:N])
        freeze = asyncio.create_task(frozen(workers, victim, SESSION_S + 4))
        await send(kafka, firsts[N:])  # while it is frozen: the other worker takes them over
        await freeze
        await wait_cases(kafka, firsts, workers, timeout=180)
        claimed = await read_topic(
            f"{namespace}.{changelog('intake', 'content')}",
            until=lambda rs: len({r.key for r in rs}) >= 4 * N,
            timeout=60,
            bootstrap=kafka,
        )
        assert len({r.key for r in claimed}) == 4 * N
        await send(kafka, seconds[:N])
        freeze = asyncio.create_task(frozen(workers, victim, SESSION_S + 4))
        await send(kafka, seconds[N:])
        await freeze
        await wait_cases(kafka, seconds, workers, timeout=180)
        problems = wrong(await outcomes(kafka), firsts, seconds)
        assert not problems, explain(workers, problems)
