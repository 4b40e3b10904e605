"""Table changelog records handed straight to the worker's started aiokafka producer, in write order.

Why: Faust's `send_changelog` builds a FutureMessage and a PendingMessage, queues them in its producer buffer,
and a background task sends each through `publish_message`, Faust's `Producer.send`, its sensors and its
callbacks: ~8 % of intake's CPU and ~5 % of routing's (bench/results/chl.md). Here a record goes to aiokafka's
`send` from the synchronous write itself: its coroutine is stepped in place, and it returns aiokafka's
delivery future without ever suspending while the topic's metadata is known and the partition's batch has room.

Order, by construction: when a send does suspend (metadata still unknown, a full batch), it is finished in a
task and every later record queues behind it (`_behind`) and is handed over by that task, one at a time, in
arrival order; the direct path reopens only once the queue is empty. So records reach aiokafka's accumulator in
the order they were written (per partition, per key), and the accumulator keeps that order to the broker.
Finishing a send in another task is sound: aiokafka's `send` (and tracing.py's wrapper, which opens no span for
a changelog) binds nothing to the calling task (no timeout scope, no current-task look-up, no context to detach).
What each returned future resolves to is the broker's acknowledgement of that record (RecordMetadata), or its
error: the event's acknowledgement waits for it (inflight.py), so no offset is committed before it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Awaitable
from typing import Any

from referral_bus import kafka
from referral_bus.resumed import Resumed

Record = tuple[str, bytes | None, bytes | None, int]  # topic, key, value, partition


class OrderedSends:
    """One worker's changelog records to its started aiokafka producer, in the order they were written."""

    def __init__(self, client: Any) -> None:
        self.client = client  # aiokafka's AIOKafkaProducer (Faust's, started)
        self._behind: deque[tuple[Record, asyncio.Future[Any]]] | None = None  # set while a send is suspended
        self._task: asyncio.Task[None] | None = None

    def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int) -> asyncio.Future[Any]:
        """Hand one record over now (or behind the ones still waiting); the future of the broker's acknowledgement."""
        if self._behind is not None:
            waiting = asyncio.get_running_loop().create_future()
            self._behind.append(((topic, key, value, partition), waiting))
            return waiting
        coro = self.client.send(topic, value, key=key, partition=partition)
        try:
            yielded = coro.send(None)
        except StopIteration as done:
            sent: asyncio.Future[Any] = done.value  # appended to its batch without waiting: the usual case
            return sent
        except Exception as exc:  # noqa: BLE001 - not swallowed: the write's future carries it to the event's ack
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed
        result = asyncio.get_running_loop().create_future()
        self._behind = deque()
        self._task = asyncio.get_running_loop().create_task(self._finish(Resumed(coro, yielded), result))
        return result

    def waiting(self) -> int:
        """Records queued behind a suspended send (0 on the direct path)."""
        return 0 if self._behind is None else len(self._behind)

    async def _finish(self, first: Awaitable[Any], result: asyncio.Future[Any]) -> None:
        """Finish the suspended send, then hand over every record queued behind it, in order."""
        behind = self._behind
        assert behind is not None
        try:
            await _deliver(first, result)
            while behind:
                (topic, key, value, partition), waiting = behind.popleft()
                await _deliver(self.client.send(topic, value, key=key, partition=partition), waiting)
        finally:
            self._behind = None  # no await between the last check of the queue and this: nothing is left behind
            for _, waiting in behind:  # cancelled (the worker stops): these records were never handed over
                waiting.cancel()


_by_app: weakref.WeakKeyDictionary[Any, OrderedSends] = weakref.WeakKeyDictionary()


def for_app(app: Any) -> OrderedSends | None:
    """The one ordered hand-off of `app`'s changelog records, or None while they must take Faust's path.

    One per worker producer, shared by every table: a new one only when Faust started a new producer.
    """
    client = kafka.started_producer(app)
    if client is None:
        return None
    sends = _by_app.get(app)
    if sends is None or sends.client is not client:
        sends = _by_app[app] = OrderedSends(client)
    return sends


async def _deliver(handing: Awaitable[Any], result: asyncio.Future[Any]) -> None:
    """Await aiokafka's `send` (the record is in its batch), then pass its acknowledgement on to `result`."""
    try:
        sent = await handing
    except asyncio.CancelledError:
        result.cancel()
        raise
    except Exception as exc:  # noqa: BLE001 - not swallowed: the write's future carries it to the event's ack
        if not result.done():
            result.set_exception(exc)
        return
    sent.add_done_callback(lambda done: _copy(done, result))


def _copy(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())
