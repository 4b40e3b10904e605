"""Baseline 1: a plain Faust pass-through worker, the floor of Faust itself.

`python -m faust -A bench.baseline_faust worker` with BENCH_* variables (one process per stage).
BENCH_MODE=naive is the agent a Faust user writes: `await topic.send(...)` (which queues the record
and does not wait for the broker's ack) and webhook posts started without waiting for each other;
BENCH_MODE=take prototypes batching: `stream.take_events(500, 50 ms)`, produce the batch, await
all acks (or POST the batch concurrently), and only then let Faust ack the events: at-least-once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust

from bench.baseline_common import AiohttpPoster, StageConfig, http_client, post

cfg = StageConfig.from_env()
DATADIR = Path(".local/faust") / cfg.group
DATADIR.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no .local/faust yet
app = faust.App(
    cfg.group,
    broker=";".join(f"kafka://{h}" for h in cfg.bootstrap.split(",")),
    value_serializer="raw",
    web_port=cfg.web_port or 6066,
    web_bind="127.0.0.1",
    web_host="127.0.0.1",
    store="memory://",
    topic_partitions=cfg.partitions,
    stream_buffer_maxsize=cfg.buffer_maxsize,
    broker_commit_every=cfg.commit_every,
    broker_commit_interval=cfg.commit_interval,
    producer_linger_ms=cfg.linger_ms,
    consumer_auto_offset_reset="earliest",
    datadir=str(DATADIR),
)


def _topic(name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


src = _topic(cfg.src)
dst = _topic(cfg.dst) if cfg.dst else None
client = http_client()
poster: AiohttpPoster | None = None


async def _post(msg: Any, headers: list[tuple[str, bytes]]) -> None:
    global poster
    if cfg.http_client == "aiohttp":
        if poster is None:
            poster = AiohttpPoster()
        await poster.post(cfg.http_url, msg.key, msg.value, headers)
    else:
        await post(client, cfg.http_url, msg.key, msg.value, headers)


async def forward_one(msg: Any) -> Any:
    """Start forwarding one message; returns an awaitable that completes on ack (or HTTP 200)."""
    headers = list(msg.headers or [])
    if dst is not None:
        return await dst.send(key=msg.key, value=msg.value, headers=headers)
    return asyncio.ensure_future(_post(msg, headers))


@app.agent(src)
async def forward(stream: Any) -> None:
    """Pass every event on unchanged."""
    if cfg.mode == "take":
        async for events in stream.take_events(500, within=0.05):
            pending = [await forward_one(e.message) for e in events]
            await asyncio.gather(*pending)
    else:
        async for event in stream.events():
            await forward_one(event.message)  # the send is queued; its ack is not awaited
