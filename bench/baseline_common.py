"""What both baselines share: their settings from the environment and the same HTTP delivery."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bench.sink import KEY_HEADER, SENT_HEADER

SENT_KAFKA_HEADER = "bench-sent-ms"


@dataclass(frozen=True)
class StageConfig:
    """One pass-through stage: read `src`, write `dst` (or POST to `http_url` for the last hop)."""

    stage: str
    src: str
    dst: str
    http_url: str
    group: str
    bootstrap: str
    linger_ms: int
    buffer_maxsize: int
    commit_every: int
    commit_interval: float
    partitions: int
    web_port: int
    mode: str
    http_client: str

    @classmethod
    def from_env(cls) -> StageConfig:
        env = os.environ
        return cls(
            stage=env["BENCH_STAGE"],
            src=env["BENCH_SRC"],
            dst=env.get("BENCH_DST", ""),
            http_url=env.get("BENCH_HTTP_URL", ""),
            group=env["BENCH_GROUP"],
            bootstrap=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            linger_ms=int(env.get("BENCH_LINGER_MS", "5")),
            buffer_maxsize=int(env.get("BENCH_STREAM_BUFFER_MAXSIZE", "4096")),
            commit_every=int(env.get("BENCH_BROKER_COMMIT_EVERY", "100")),
            commit_interval=float(env.get("BENCH_BROKER_COMMIT_INTERVAL", "1.0")),
            partitions=int(env.get("KAFKA_TOPIC_PARTITIONS", "4")),
            web_port=int(env.get("BENCH_WEB_PORT", "0")),
            mode=env.get("BENCH_MODE", "naive"),
            http_client=env.get("BENCH_HTTP_CLIENT", "aiohttp"),
        )


def http_client() -> httpx.AsyncClient:
    """A pooled httpx client (BENCH_HTTP_CLIENT=httpx): the notifier's client before it moved to aiohttp."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0), limits=httpx.Limits(max_connections=100, max_keepalive_connections=20)
    )


async def post(
    client: httpx.AsyncClient, url: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
) -> None:
    """POST the record's bytes; the produce timestamp and key travel as headers (nothing is decoded)."""
    sent = next((v for k, v in headers if k == SENT_KAFKA_HEADER), b"0")
    response = await client.post(
        url,
        content=value,
        headers={
            "Content-Type": "application/octet-stream",
            SENT_HEADER: sent.decode(),
            KEY_HEADER: (key or b"").decode(),
        },
    )
    response.raise_for_status()


class AiohttpPoster:
    """The same POST with aiohttp's client, pooled as in the notifier's webhook channel (the default)."""

    def __init__(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def post(self, url: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        sent = next((v for k, v in headers if k == SENT_KAFKA_HEADER), b"0")
        hdrs = {
            "Content-Type": "application/octet-stream",
            SENT_HEADER: sent.decode(),
            KEY_HEADER: (key or b"").decode(),
        }
        async with self.session.post(url, data=value, headers=hdrs) as response:
            await response.read()
            response.raise_for_status()

    async def close(self) -> None:
        await self.session.close()
