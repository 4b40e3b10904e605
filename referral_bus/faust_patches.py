"""Targeted workarounds for faust-streaming bugs that lose messages, and for one cost; `install()` once per process.

The loss they close (found with an ack/commit trace of tests/integration/test_intake_stream.py's
restart test, faust-streaming 0.15.3): after a restart, table recovery starts the fetcher and resumes
flow while the stream partitions are still paused. At the end of recovery Faust resumes the stream
partitions, *then* seeks them to their committed offsets, *then* clears the stream queues. The fetcher
is running all the while, so:

1. it fetches the first records of a stream partition from the committed offset N and hands record N
   to the agent's queue before the seek finishes;
2. the seek resets the "read offset" to N, the queue clear throws record N away, and the fetcher goes
   on delivering the rest of the batch fetched before the seek (N+1, N+2, ...), moving the read offset
   past N again;
3. the refetched copy of N (from the seek) is then dropped as "already read";
4. N+1 is acknowledged and Faust's commit check (`_new_offset`, `min(acked) - committed > 1`) lets the
   commit jump over exactly one missing offset: N is committed without ever being processed.

Fixes, each as narrow as the bug:

* `_quiesced` wraps the two recovery steps that seek the stream partitions: consumer flow is stopped
  (nothing more reaches a queue) and the fetcher's in-flight record is let finish before Faust
  resumes, seeks and clears; Faust's own `resume_flow()` at the end of each step restarts fetching
  from the committed offsets. Record order is kept: nothing of a stale batch is delivered.
* `_known_partitions_only` (table writes): Faust checks that a table's source topic and changelog
  have the same number of partitions, reading the counts from aiokafka's group metadata snapshot.
  A topic missing from the cluster metadata when that snapshot was taken (a changelog created
  while the group formed, seen on a freshly started broker) is recorded with 0 partitions, and
  then every write to the table raises PartitionsMismatch (4 != 0) until the next rebalance: each
  event is dead-lettered after its outputs were sent. A count of 0 is "not known yet" (a topic
  cannot have 0 partitions), so it is treated as Faust treats an unknown count: not checked, and
  checked again on the next write.
* `_held_new_offset` never commits past an offset that was not acknowledged: a lost record would
  leave the commit held (visible as lag, replayed on restart or rebalance) instead of silently
  skipped. Faust already holds for a hole of two or more; this closes the hole of exactly one. Its
  only false alarm: a periodic commit cancelled by shutdown after Faust forgot the acks it was
  committing; then the last stretch is replayed (duplicates, which the dedup tables absorb).

* `_uncommitted_from_start` (stream partitions no one has committed on yet): after a rebalance,
  and whenever the fetcher finds flow stopped after a fetch, Faust drops the records fetched (and
  clears the stream queues) and "seeks to committed" so that they are fetched again. aiokafka's
  seek_to_committed does not seek a partition whose committed offset is None or 0, so the records
  of such a partition fetched before that step are never fetched again: lost without a trace (seen
  as intake's correlation hops and verdicts left unprocessed when a second worker leaves:
  tests/integration/test_correlation_split.py). Those partitions (changelogs excepted: recovery
  places them itself) are sought to their first offset, which is what "nothing committed" means
  with auto_offset_reset=earliest, and Faust's perform_seek then resets their read offset as it
  does for a committed one (None: nothing read yet; acks and commits start again from there). The
  seek is to an explicit offset, in the consumer's thread: aiokafka's seek_to_beginning would
  leave the position unknown until its reset completes, and Faust's livelock detector asserts on
  an unknown position (the worker's consumer crashed: the commits of tests/integration/
  test_batch_loop.py's crash test stalled).

Not a bug, a cost (issue 17, bench/results/fcon.md):

* `_inline_delivery`: Faust's fetcher hands each record to its stream with `wait_first(deliver,
  suspend_flow.wait())`, which makes four tasks (delivery, suspend, stopped, crashed), an
  `asyncio.wait` and three cancellations per record (~48 µs, 6-8 % of a worker). Delivery is a queue
  put that almost never waits, so its first step now runs inline; only when it does wait (full stream
  buffer, flow control, producer backlog) does the rest go through Faust's `wait_first` as before.
  The inline step runs in the fetcher's context, not a task's copy of it: delivery sets no context variable.

Not a bug, a cost of aiokafka: `fetch_codec.install()` (its own module) encodes Fetch v11 requests and decodes their
answers with compiled struct formats, same bytes and objects (bench/results/sock.md), and Produce v7's through
`produce_codec.py` (bench/results/tbl3.md). `fetch_session.install()`
(its own module; only with `KAFKA_FETCH_SESSIONS=true`) makes each fetch incremental (KIP-227): only the
partitions that changed, answers only for those with something new (bench/results/idle.md).
`fetch_actions.install()` (its own module) decides the fetcher's next requests in one pass: aiokafka's
actions, less CPU per fetcher wake-up (bench/results/fetch2.md). `faust_reads.install()` (its own module)
reads the two settings Faust reads per record once per object (bench/results/micro.md). `produce_drain.install()`
(its own module) sends the batches a node holds with its first due one, as Java's producer (bench/results/prod.md).

Not a bug, a missing setting: `_fetch_settings` lets a worker choose the consumer's fetch.min.bytes
and fetch.max.wait.ms, which Faust's consumer factory fixes at 1 byte and 1,500 ms (`fetch_settings`).
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from faust.tables.base import Collection
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode.services import WaitResults

from referral_bus import faust_reads, fetch_actions, fetch_codec, fetch_session, produce_codec, produce_drain
from referral_bus import logging as rb_logging
from referral_bus.errors import ConfigurationError
from referral_bus.resumed import Resumed

log = rb_logging.get_logger()

SETTLE_TIMEOUT_S = 10.0  # the fetcher finishes its in-flight record in milliseconds; this bounds a stuck one

_installed = False
_deferred: set[tuple[str, str]] = set()  # (table, source topic) whose deferred check was logged
_fetch: weakref.WeakKeyDictionary[Any, tuple[int, int, int, int]] = weakref.WeakKeyDictionary()  # app → fetch settings

_PATCHED = {
    Consumer: ("getmany", "_new_offset", "stop_flow", "resume_flow", "wait_first"),
    Recovery: ("on_recovery_completed", "_resume_streams"),
    Collection: ("_verify_source_topic_partitions",),
    AIOKafkaConsumerThread: ("_create_worker_consumer", "seek_to_committed", "call_thread", "_ensure_consumer"),
}


def _require_internals() -> None:
    """Fail at start-up, with what to do, when Faust no longer has what these workarounds wrap."""
    missing = [f"{cls.__name__}.{name}" for cls, names in _PATCHED.items() for name in names if not hasattr(cls, name)]
    if missing:
        raise ConfigurationError(
            f"faust internals changed ({', '.join(missing)} missing): review referral_bus/faust_patches.py "
            "against the installed faust-streaming before running workers"
        )


def _tracking_getmany(original: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """Mark the consumer while the fetcher's drain loop is handling a record this generator yielded."""

    @functools.wraps(original)
    async def getmany(self: Any, timeout: float) -> AsyncIterator[Any]:
        async for item in original(self, timeout):
            self._rb_delivering = True
            try:
                yield item
            finally:
                self._rb_delivering = False

    return getmany


async def _settle(consumer: Any) -> None:
    """Wait until the drain loop is not between receiving a record and recording its read offset."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while getattr(consumer, "_rb_delivering", False):
        if time.monotonic() > deadline:
            log.warning("fetcher did not settle before the seek to committed offsets")
            return
        await asyncio.sleep(0.005)


def _quiesced(original: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Run a recovery step (resume, seek to committed, clear queues, resume flow) with the fetcher quiet."""

    @functools.wraps(original)
    async def step(self: Any, generation_id: int = 0) -> None:
        consumer = self.app.consumer
        consumer.stop_flow()  # Faust's step ends with consumer.resume_flow()
        await _settle(consumer)
        await original(self, generation_id=generation_id)

    return step


def _inline_delivery(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The fetcher's `wait_first(deliver, suspend_flow.wait())` with the delivery run inline while it does not wait.

    A delivery that completes in its first step needs none of Faust's tasks; one that waits is resumed by
    Faust's `wait_first` (the suspend event still abandons it). Any other call is Faust's own.
    """

    @functools.wraps(original)
    async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:
        if len(coros) != 2 or timeout is not None or not all(asyncio.iscoroutine(c) for c in coros):
            return await original(self, *coros, timeout=timeout)
        deliver, suspended = coros
        try:
            waiting_on = deliver.send(None)
        except StopIteration as done:
            suspended.close()
            if self._stopped.is_set() or self._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([deliver], [done.value], False)
        except BaseException:
            suspended.close()
            raise
        return await original(self, Resumed(deliver, waiting_on), suspended)

    return wait_first


def _held_new_offset(original: Callable[[Any, Any], int | None]) -> Callable[[Any, Any], int | None]:
    """Return no new offset while the lowest acknowledged offset is above the committed one."""

    @functools.wraps(original)
    def new_offset(self: Any, tp: Any) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        # Gap intervals (transaction markers, compaction) are Faust's own business: defer to it then.
        if acked and committed is not None and not self._gap.get(tp) and min(acked) > committed:
            held = getattr(self, "_rb_held", None)
            if held is None:
                held = self._rb_held = {}
            if held.get(tp) != committed:
                held[tp] = committed
                log.warning(
                    "commit held: offsets below the lowest acknowledged one are not known to be done; "
                    "they will be replayed",
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=committed,
                    lowest_acked=min(acked),
                )
            return None
        return original(self, tp)

    return new_offset


async def _seek_to_start(consumer: Any, partitions: list[Any]) -> None:
    """In the consumer's thread: seek each of `partitions` still assigned to its first available offset."""
    starts = await consumer.beginning_offsets(partitions)
    assigned = consumer.assignment()
    for tp in partitions:
        if tp in assigned and tp in starts:
            consumer.seek(tp, starts[tp])


def _uncommitted_from_start(original: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """Seek to committed, and the stream partitions with nothing committed (None or 0) to their first offset."""

    @functools.wraps(original)
    async def seek_to_committed(self: Any) -> Any:
        committed = await original(self)
        fresh = [tp for tp, offset in committed.items() if not offset and not self.consumer._is_changelog_tp(tp)]
        if fresh:
            await self.call_thread(_seek_to_start, self._ensure_consumer(), fresh)
        return committed

    return seek_to_committed


def _known_partitions_only(original: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
    """Skip the source/changelog partition-count check while either count is 0 (not in the snapshot yet)."""

    @functools.wraps(original)
    def verify(self: Any, source_topic: str) -> None:
        if source_topic not in self._verified_source_topics_for_partitions:
            consumer = self.app.consumer
            counts = (consumer.topic_partitions(source_topic), consumer.topic_partitions(self.changelog_topic_name))
            if 0 in counts:
                if (self.name, source_topic) not in _deferred:  # once per table and topic, not per event
                    _deferred.add((self.name, source_topic))
                    log.warning(
                        "partition count not known yet; table check deferred",
                        table=self.name,
                        source_partitions=counts[0],
                        changelog_partitions=counts[1],
                    )
                return
        original(self, source_topic)

    return verify


def fetch_settings(app: Any, min_bytes: int, max_wait_ms: int, gather: tuple[int, int] = (1, 0)) -> None:
    """The worker consumer of `app` fetches at least `min_bytes`, waiting at most `max_wait_ms` at the broker.

    `gather` (bytes, wait ms; wait 0: off): while records flow, at least those bytes, at most that wait
    (fetch_actions.gather).
    """
    _fetch[app] = (min_bytes, max_wait_ms, *gather)


def _fetch_settings(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Faust's worker consumer, with the fetch settings chosen for its app (before the consumer starts)."""

    @functools.wraps(original)
    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        chosen = _fetch.get(self.app)
        if chosen is not None:
            if not hasattr(consumer, "_fetch_min_bytes") or not hasattr(consumer, "_fetch_max_wait_ms"):
                raise ConfigurationError(
                    "aiokafka internals changed (AIOKafkaConsumer._fetch_min_bytes/_fetch_max_wait_ms missing): "
                    "review referral_bus/faust_patches.py against the installed aiokafka"
                )
            consumer._fetch_min_bytes, consumer._fetch_max_wait_ms, gather_bytes, gather_wait = chosen
            fetch_actions.gather(consumer._client, gather_bytes, gather_wait)
        return consumer

    return create


def install(*, fetch_sessions: bool = False) -> None:
    """Apply the workarounds (idempotent); `fetch_sessions=True` (KAFKA_FETCH_SESSIONS) makes fetches incremental."""
    global _installed
    if fetch_sessions and not fetch_session.install():  # on its own: a later worker in the process may ask
        log.warning("aiokafka's connection or Fetch v11 changed: full fetches (review referral_bus/fetch_session.py)")
    if _installed:
        return
    _require_internals()
    consumer: Any = Consumer
    recovery: Any = Recovery
    consumer.getmany = _tracking_getmany(consumer.getmany)
    consumer._new_offset = _held_new_offset(consumer._new_offset)
    consumer.wait_first = _inline_delivery(consumer.wait_first)
    recovery.on_recovery_completed = _quiesced(recovery.on_recovery_completed)
    recovery._resume_streams = _quiesced(recovery._resume_streams)
    collection: Any = Collection
    collection._verify_source_topic_partitions = _known_partitions_only(collection._verify_source_topic_partitions)
    thread: Any = AIOKafkaConsumerThread
    thread._create_worker_consumer = _fetch_settings(thread._create_worker_consumer)
    thread.seek_to_committed = _uncommitted_from_start(thread.seek_to_committed)
    if not fetch_codec.install():
        log.warning("aiokafka's Fetch v11 schemas changed: its own codec is used (review referral_bus/fetch_codec.py)")
    if not produce_codec.install():
        log.warning("aiokafka's Produce v7 changed: its own codec is used (review referral_bus/produce_codec.py)")
    if not fetch_actions.install():
        log.warning("aiokafka's fetcher changed: its own fetch actions are used (review referral_bus/fetch_actions.py)")
    if not produce_drain.install():
        log.warning("aiokafka's accumulator changed: its own drain is used (review referral_bus/produce_drain.py)")
    if not faust_reads.install():
        log.warning("Faust's producer buffer changed: its settings reads are kept (review referral_bus/faust_reads.py)")
    _installed = True
