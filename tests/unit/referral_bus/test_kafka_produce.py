"""kafka.produce: straight to the aiokafka producer Faust started; Faust's own path before it started."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from referral_bus.kafka import produce


class Recorder:
    """Stands in for a producer's `send`: records the call, returns a future like aiokafka's."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[str]:
        self.calls.append((args, kwargs))
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        future.set_result("metadata")
        return future


def app_with(client: Recorder | None, faust_producer: Recorder, *, in_transaction: bool = False) -> Any:
    async def maybe_start_producer() -> Recorder:
        return faust_producer

    return SimpleNamespace(
        producer=SimpleNamespace(_producer=client),
        in_transaction=in_transaction,
        maybe_start_producer=maybe_start_producer,
    )


def test_a_started_producer_gets_the_record_directly() -> None:
    client, faust_producer = Recorder(), Recorder()

    async def run() -> str:
        fut = await produce(app_with(client, faust_producer), "t", b"k", b"v", [("h", b"1")], 2)
        return str(await fut)

    assert asyncio.run(run()) == "metadata"
    assert client.calls == [(("t", b"v"), {"key": b"k", "partition": 2, "headers": [("h", b"1")]})]
    assert faust_producer.calls == []


def test_before_the_producer_started_or_in_a_transaction_faust_sends_it() -> None:
    for client, in_transaction in ((None, False), (Recorder(), True)):
        faust_producer = Recorder()
        app = app_with(client, faust_producer, in_transaction=in_transaction)
        asyncio.run(produce(app, "t", None, b"v", None, None))
        expected = {"partition": None, "timestamp": None, "headers": None}
        assert faust_producer.calls == [(("t", None, b"v"), expected)]
        assert client is None or client.calls == []
