"""Baseline 2: a plain aiokafka consume→produce loop, the floor of any Python Kafka pipeline here.

`python -m bench.baseline_aiokafka` with BENCH_* variables (see baseline_common.StageConfig).
Batches as a careful hand-written forwarder would: fetch up to 500 records, produce them all,
await every acknowledgement (or every HTTP 200), then commit: still at-least-once.

With BENCH_EXTRA_TOPICS (`aiokafka_records`) each record also writes one record per named topic, same key,
awaited with the forwarded ones (after the POSTs on the last hop) before the commit: our workers' record count
without their work. The value is the consumed one (≈ 550 bytes, a bench report): no encoding to count, and at
least as large as most of ours (changelog entries and statuses are smaller), so bytes never flatter it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.baseline_common import AiohttpPoster, StageConfig, http_client, post
from referral_bus import event_loop


async def main() -> None:
    cfg = StageConfig.from_env()
    consumer = AIOKafkaConsumer(
        cfg.src,
        bootstrap_servers=cfg.bootstrap,
        group_id=cfg.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=cfg.bootstrap, acks="all", linger_ms=cfg.linger_ms)
    client = http_client()
    poster = AiohttpPoster() if cfg.http_client == "aiohttp" else None
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            msgs = [m for ms in batches.values() for m in ms]
            if not msgs:
                continue
            futures: list[Any] = []  # acknowledgements: forwarded records, then the extra ones
            if cfg.dst:
                futures = [await producer.send(cfg.dst, m.value, key=m.key, headers=list(m.headers)) for m in msgs]
            elif poster is not None:
                await asyncio.gather(*(poster.post(cfg.http_url, m.key, m.value, m.headers) for m in msgs))
            else:
                await asyncio.gather(*(post(client, cfg.http_url, m.key, m.value, m.headers) for m in msgs))
            futures += [await producer.send(t, m.value, key=m.key) for m in msgs for t in cfg.extra_topics]
            await asyncio.gather(*futures)
            await consumer.commit()
    finally:
        await client.aclose()
        if poster is not None:
            await poster.close()
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    event_loop.run(main())  # EVENT_LOOP, as every process of the run
