"""Quiet in an outage, on a real worker: our OWN broker (never the shared one) stopped and started again.

Without the limiter each worker wrote tens of thousands of "Unable to update metadata" lines per 20 s
of outage; with it: the outage once, one summary line per interval per kind of line, the recovery once.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from referral_devstack import broker
from referral_devstack.workers import Workers, free_port_pair, temp_workdir
from tests.support.polling import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.timeout(900)]

INTERVAL = 4.0
OUTAGE = "broker unreachable: Kafka client errors from now on are summarised"
RECOVERY = "broker reachable again"
SUMMARY = "repeated client log lines held back"


def lines(path: Path) -> list[dict[str, Any]]:
    """The worker's JSON log lines (anything else it printed is skipped)."""
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
    return out


async def until(check: Any, timeout: float, what: str, log: Path) -> None:
    """Poll `check()` until true, or fail with the worker's log tail."""
    if not await wait_for(check, timeout):
        pytest.fail(f"{what} not seen within {timeout:.0f}s:\n" + log.read_text(errors="replace")[-4000:])


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def test_a_broker_outage_is_logged_once_summarised_per_interval_and_its_end_once(namespace: str) -> None:
    with temp_workdir("outage-log-") as work:
        own = broker.LocalBroker(port=free_port_pair(), state_dir=Path(work) / "kafka")
        await asyncio.to_thread(broker.start, own)
        workers = Workers(
            Path(work),
            namespace,
            {
                "KAFKA_BOOTSTRAP_SERVERS": own.bootstrap,
                "INTAKE_LOG_REPEAT_INTERVAL_SECONDS": str(INTERVAL),
                "INTAKE_STALL_TIMEOUT_SECONDS": "0",
            },
        )
        try:
            workers.start("intake")
            await asyncio.to_thread(workers.wait_ready, 180.0)
            log = workers.log_path("intake")
            before = len(lines(log))

            await asyncio.to_thread(broker.stop, own, timeout=2.0)  # SIGKILL after 2 s: a crash, not a drain
            # at least three summaries of aiokafka's metadata errors: the outage lasted > 3 intervals
            await until(
                lambda: sum(1 for r in lines(log)[before:] if r["event"] == SUMMARY) >= 3,
                120,
                "three summary lines",
                log,
            )
            await asyncio.to_thread(broker.start, own)
            await until(lambda: any(r["event"] == RECOVERY for r in lines(log)[before:]), 180, "the recovery", log)
            port = workers.ports["intake"]
            await until(lambda: ready(port), 180, "readiness after the outage", log)
            assert workers.procs["intake"].poll() is None, "the worker exited during the outage"

            during = lines(log)[before:]
            events = [r["event"] for r in during]
            assert events.count(OUTAGE) == 1, events
            assert events.count(RECOVERY) == 1, events
            summaries = [r for r in during if r["event"] == SUMMARY]
            held = sum(r["count"] for r in summaries)
            client = [r for r in during if str(r.get("logger", "")).startswith(("aiokafka", "faust", "mode"))]
            client_warnings = [r for r in client if r.get("level") in ("warning", "error", "critical")]
            kinds = {(r["source_logger"], r["message"]) for r in summaries}
            # per kind: its first line, then at most one summary per interval of the outage (+1 at recovery)
            start, end = (datetime.fromisoformat(r["timestamp"]) for r in during if r["event"] in (OUTAGE, RECOVERY))
            per_kind_bound = 2 + (end - start).total_seconds() / INTERVAL
            print(
                f"outage logged for {(end - start).total_seconds():.0f}s: {len(during)} lines, "
                f"{len(client_warnings)} client warnings written, "
                f"{held} held back in {len(summaries)} summaries over {len(kinds)} kinds"
            )
            assert held > len(client_warnings), "the repeats were not held back"
            for kind in kinds:
                n = sum(1 for r in summaries if (r["source_logger"], r["message"]) == kind)
                stamps = [(r["timestamp"], r["count"]) for r in summaries if (r["source_logger"], r["message"]) == kind]
                assert n <= per_kind_bound, (kind, n, per_kind_bound, stamps)
            assert len(client_warnings) + len(summaries) <= len(kinds) * per_kind_bound + 50, (
                len(client_warnings),
                len(summaries),
            )
        finally:
            workers.stop_all()
            await asyncio.to_thread(broker.stop, own, timeout=5.0)
