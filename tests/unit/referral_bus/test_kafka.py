"""gather_fetches (referral_bus/kafka.py): only the app it names fetches in batches; others keep Faust's own."""

from __future__ import annotations

from typing import Any

import faust

from referral_bus.kafka import gather_fetches


async def test_only_the_named_app_gathers_its_fetches() -> None:
    gathering, other = (faust.App(f"t-gather-{n}", broker="kafka://127.0.0.1:9092") for n in ("a", "b"))
    gather_fetches(gathering, 150, min_bytes=4096)
    gather_fetches(other, 0)  # 0: Faust's own fetches (a record at a time), never a zero-wait poll loop
    threads: list[Any] = [app.consumer._thread for app in (gathering, other)]  # type: ignore[attr-defined]  # Faust types the consumer without its thread
    made = threads[0]._create_worker_consumer(gathering.transport)  # not started: no connection
    kept = threads[1]._create_worker_consumer(other.transport)
    assert (made._fetch_max_wait_ms, made._fetch_min_bytes) == (150, 4096)
    assert (kept._fetch_max_wait_ms, kept._fetch_min_bytes) == (1500, 1)
