"""What both baselines share: their settings from the environment and the same HTTP delivery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import httpx
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bench.settings import split_list
from bench.sink import KEY_HEADER, SENT_HEADER

SENT_KAFKA_HEADER = "bench-sent-ms"


class StageConfig(BaseSettings):
    """One pass-through stage (`BENCH_*`): read `src`, write `dst` (or POST to `http_url` for the last hop)."""

    model_config = SettingsConfigDict(env_prefix="BENCH_", extra="ignore", frozen=True)

    stage: str
    src: str
    dst: str = ""
    http_url: str = ""
    group: str
    bootstrap: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    linger_ms: int = 5
    buffer_maxsize: int = Field(default=4096, validation_alias="BENCH_STREAM_BUFFER_MAXSIZE")
    commit_every: int = Field(default=100, validation_alias="BENCH_BROKER_COMMIT_EVERY")
    commit_interval: float = Field(default=1.0, validation_alias="BENCH_BROKER_COMMIT_INTERVAL")
    partitions: int = Field(default=4, validation_alias="KAFKA_TOPIC_PARTITIONS")
    web_port: int = 0
    mode: str = "naive"
    http_client: str = "aiohttp"
    # BENCH_EXTRA_TOPICS (aiokafka_records): topics each consumed record also writes one record to, a name once per
    # record (a name twice: two records); "" (the default): none, the plain loops
    extra_topics: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("extra_topics", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return split_list(value) or []

    @classmethod
    def from_env(cls) -> StageConfig:
        """The stage's settings from the environment (BENCH_STAGE, BENCH_SRC and BENCH_GROUP are required)."""
        return cls()


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
