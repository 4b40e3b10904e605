"""The plain aiokafka loop (bench/baseline_aiokafka.py) with fake clients: what it writes and when it commits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench import baseline_aiokafka


class _Stop(Exception):
    """Ends the loop after its first batch."""


class _Record:
    def __init__(self, key: bytes, value: bytes) -> None:
        self.key, self.value, self.headers = key, value, (("bench-sent-ms", b"1"),)


class _Clients:
    """A consumer with one batch, a producer whose acks come a loop turn later, a poster: what each saw, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.acks: list[asyncio.Future[None]] = []

    def consumer(self, *args: Any, **kwargs: Any) -> Any:
        clients, batches = self, [{0: [_Record(b"k1", b"v1"), _Record(b"k2", b"v2")]}]

        class Consumer:
            async def start(self) -> None: ...
            async def stop(self) -> None: ...

            async def getmany(self, **kwargs: Any) -> dict[int, list[_Record]]:
                if not batches:
                    raise _Stop
                return batches.pop()

            async def commit(self) -> None:
                clients.events.append(("commit", all(f.done() for f in clients.acks)))

        return Consumer()

    def producer(self, *args: Any, **kwargs: Any) -> Any:
        clients = self

        class Producer:
            async def start(self) -> None: ...
            async def stop(self) -> None: ...

            async def send(self, topic: str, value: bytes, key: bytes, headers: Any = None) -> asyncio.Future[None]:
                ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().call_later(0.001, ack.set_result, None)
                clients.acks.append(ack)
                clients.events.append(("send", (topic, key, value)))
                return ack

        return Producer()

    def poster(self) -> Any:
        clients = self

        class Poster:
            async def post(self, url: str, key: bytes, value: bytes, headers: Any) -> None:
                clients.events.append(("post", key))

            async def close(self) -> None: ...

        return Poster()


async def _one_batch(monkeypatch: pytest.MonkeyPatch, dst: str, extra: str) -> list[tuple[str, Any]]:
    clients = _Clients()
    monkeypatch.setattr(baseline_aiokafka, "AIOKafkaConsumer", clients.consumer)
    monkeypatch.setattr(baseline_aiokafka, "AIOKafkaProducer", clients.producer)
    monkeypatch.setattr(baseline_aiokafka, "AiohttpPoster", clients.poster)
    for name, value in {"STAGE": "s", "SRC": "in", "GROUP": "g", "DST": dst, "HTTP_URL": "http://x/bench"}.items():
        monkeypatch.setenv(f"BENCH_{name}", value)
    monkeypatch.setenv("BENCH_EXTRA_TOPICS", extra)
    with pytest.raises(_Stop):
        await baseline_aiokafka.main()
    return clients.events


async def test_a_stage_writes_each_extra_record_with_the_consumed_key_and_value_acked_before_its_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = await _one_batch(monkeypatch, "out", "x,x,y")
    sent = [e[1] for e in events if e[0] == "send"]
    assert sorted(sent) == sorted(
        (t, k, v) for k, v in ((b"k1", b"v1"), (b"k2", b"v2")) for t in ("out", "x", "x", "y")
    )  # a topic named twice: two records
    assert events[-1] == ("commit", True)  # every forwarded and extra record acknowledged first


async def test_the_last_hop_writes_its_extra_records_after_its_posts_and_the_plain_loop_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = await _one_batch(monkeypatch, "", "receipts")
    assert [e[0] for e in events] == ["post", "post", "send", "send", "commit"] and events[-1][1] is True
    plain = await _one_batch(monkeypatch, "", "")
    assert [e[0] for e in plain] == ["post", "post", "commit"]
