"""The Faust shell every service shares: app factory, topics, health views and the guarded event loop."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import faust
from faust.types import StreamT
from faust.web import Request, Response, View

from referral_bus import event_loop, faust_patches, metrics, pauses, summary, topics, tracing
from referral_bus import logging as rb_logging
from referral_bus.casekeys import CaseKeys, kek_from_settings
from referral_bus.codec import Codec
from referral_bus.deadletter import budget, dead_letter, fit, letter_key, without_bytes
from referral_bus.errors import OutputNotWrittenError, ReferralBusError, RejectedMessage, RulesError
from referral_bus.expiry import Expiry
from referral_bus.inflight import InFlight, Pending, current, outcomes
from referral_bus.kafka import (
    KeyPartitioner,
    drop_builtin_pages,
    ensure_topics,
    faust_credentials,
    produce,
    read_offset,
    release,
    topic_max_message_bytes,
)
from referral_bus.lean_monitor import LeanMonitor
from referral_bus.message import SourceMessage, normalise_headers, source_message
from referral_bus.settings import KafkaSettings, ServiceSettings
from referral_bus.tables import Table, flush_changelog
from referral_bus.topic_catalog import changelog_config
from referral_bus.watchdog import Watchdog

Handler = Callable[[SourceMessage], Awaitable[None]]
ReadinessCheck = Callable[[], str | None]
T = TypeVar("T")

log = rb_logging.get_logger()


# Allocations between two collections of the youngest GC generation once a worker is ready (Python's default:
# 700). An event's objects mostly die before the next collection then instead of being walked and promoted.
GC_YOUNG_THRESHOLD = 20_000
TRACE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})


def without_trace(headers: Sequence[tuple[str, bytes | None]]) -> list[tuple[str, bytes]]:
    """Headers to forward, minus trace context: the aiokafka instrumentation injects the current one."""
    return [(k, v) for k, v in headers if k.lower() not in TRACE_HEADERS and v is not None]


def _where(exc: BaseException) -> str:
    """File and line of the innermost frame: enough to find a bug, without messages that may hold data."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "unknown"
    return f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"


class Service:
    """One worker: its Faust app, topics, codec, dead-letter writer and readiness checks."""

    def __init__(
        self, name: str, settings: ServiceSettings, kafka: KafkaSettings | None = None, *, encodes: tuple[str, ...] = ()
    ) -> None:
        self.name = name
        self.encodes = encodes  # record types it writes: their registry ids are looked up off the loop
        self.settings = settings
        self.kafka = kafka or KafkaSettings()
        rb_logging.configure(
            name,
            fmt=settings.log_format,
            level=settings.log_level,
            repeat_interval=settings.log_repeat_interval_seconds,
        )
        summary.configure(each_event=settings.log_each_event)
        tracing.configure(f"referral-bus-{name}")
        metrics.configure(f"referral-bus-{name}")
        metrics.init_dead_letters(name)  # zero series: the first dead letter is an increase alerts see
        faust_patches.install(fetch_sessions=self.kafka.fetch_sessions)  # Faust bugs; aiokafka's fetch costs
        self.codec = Codec(max_bytes=self.kafka.max_message_bytes)
        ns = topics.namespace()
        datadir = settings.data_dir / f"{ns or 'default'}-{name}-{settings.web_port}"
        datadir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            f"{ns + '.' if ns else ''}referral-bus-{name}",
            broker=self.kafka.faust_broker,
            broker_credentials=faust_credentials(self.kafka),
            value_serializer="json",  # tables' changelogs; our topics set raw bytes themselves
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            datadir=str(datadir),
            store="memory://",
            topic_partitions=self.kafka.topic_partitions,
            topic_replication_factor=self.kafka.topic_replication_factor,
            topic_allow_declare=True,
            stream_buffer_maxsize=settings.stream_buffer_maxsize,
            broker_commit_every=settings.broker_commit_every,
            broker_commit_interval=settings.broker_commit_interval,
            producer_linger_ms=settings.producer_linger_ms,
            producer_max_batch_size=settings.producer_max_batch_size,
            broker_max_poll_records=settings.broker_max_poll_records or None,
            producer_max_request_size=self.kafka.max_message_bytes * 2,
            producer_partitioner=KeyPartitioner(),  # aiokafka's, each key's murmur2 hashed once for all its sends
            consumer_auto_offset_reset="earliest",
            consumer_max_fetch_size=settings.max_partition_fetch_bytes or self.kafka.max_message_bytes * 2,
            web_enabled=True,
            # only our own pages (health, readiness, metrics, the ack endpoint): Faust's table pages
            # show table contents, the router page the cluster's layout (tests/integration/test_web_pages.py)
            web_tables_enabled=False,
            web_router_enabled=False,
            web_stats_enabled=False,
            web_graph_enabled=False,
            web_metrics_enabled=False,
            table_standby_replicas=0,
            logging_config=rb_logging.stdlib_config(),  # Faust/mode/aiokafka lines through our processors
            Monitor=LeanMonitor,  # Faust's statistics sensor without the per-event statistics nothing reads
        )
        faust_patches.fetch_settings(
            self.app,
            settings.consumer_fetch_min_bytes,
            settings.consumer_fetch_max_wait_ms,
            (settings.consumer_fetch_gather_min_bytes, settings.consumer_fetch_gather_max_wait_ms),
        )
        # Each event's `{topic} process` span (Faust's sensor's span without the record key), opened and ended by
        # `_handle_event` around the handler rather than by Faust's sensor calls: it covers the event's work (a
        # notifier delivery included, whose stage then folds onto it), not the wait for the next event.
        self._process_spans: Any = None
        if tracing.tracing_enabled():  # otherwise it would only open non-recording spans
            from referral_bus.span_keys import ProcessSpanSensor

            self._process_spans = ProcessSpanSensor()
        self._readiness: list[ReadinessCheck] = []
        self._tables: list[Table] = []
        self._swept: dict[tuple[str, int], float] = {}  # (table, partition) → when last swept (monotonic)
        self._topic_names: list[str] = []
        self._topic_configs: dict[str, dict[str, str]] = {}  # changelogs: created as declared, before Faust's consumer
        self.deadletter_topic = self.topic(topics.DEADLETTER)
        # what a dead letter must fit: the topic's max.message.bytes once read at start-up, and the producer's limit
        self.deadletter_limit = self.kafka.max_message_bytes
        self.deadletter_digests_topic = self.topic(topics.DEADLETTER_DIGESTS)
        self._register_views()
        drop_builtin_pages(self.app)  # the settings above leave Faust's index page at "/"
        self.app.on_worker_init.connect(self._create_topics)
        metrics.register_lag_source(self._consumer_lag, group=self.app.conf.id)
        self.watchdog = Watchdog(self.app, self.kafka, settings.stall_timeout_seconds, service=name)
        self.watchdog.install()  # a stalled worker exits for a restart (<PREFIX>_STALL_TIMEOUT_SECONDS)
        if settings.pause_evidence:  # event-loop lag and full GCs logged with their time (referral_bus/pauses.py)
            self.app.task(pauses.task(name))
        self._install_summary()
        self.app.task(self._freeze_startup_objects)

    async def _freeze_startup_objects(self) -> None:
        """Once ready, what import and start-up built (modules, rules, Faust) leaves the GC's full collections.

        Those objects live as long as the worker; frozen, a full collection stops walking them (~0.1 s each
        before, 5–11 % of routing's CPU: bench/results/route.md). Then the youngest generation is collected
        every GC_YOUNG_THRESHOLD allocations instead of 700 (bench/results/ncpu.md).
        """
        gc.collect()
        gc.freeze()
        while self.not_ready_reasons():
            await asyncio.sleep(1.0)
        gc.collect()
        gc.freeze()
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)

    def _install_summary(self) -> None:
        """Every LOG_SUMMARY_INTERVAL_SECONDS, and when stopping: tallied metrics flushed, `events summary` logged."""

        async def events_summary() -> None:
            summary.flush()

        async def last_summary(*args: Any, **kwargs: Any) -> None:
            summary.flush()

        interval = self.settings.log_summary_interval_seconds
        self.app.timer(interval, name=f"{self.name}-events-summary")(events_summary)
        self.app.on_before_shutdown.connect(last_summary)

    def _consumer_lag(self) -> list[tuple[str, int, int]]:
        """(topic, partition, lag) for each assigned partition already read from (for /metrics)."""
        consumer: Any = self.app.consumer
        rows = []
        for tp in consumer.assignment():
            read, high = read_offset(consumer, tp), consumer.highwater(tp)
            if read is not None and high is not None:
                rows.append((tp.topic, tp.partition, high - read - 1))
        return rows

    def _create_topics(self, *args: Any, **kwargs: Any) -> None:
        """Before the consumer subscribes: create our topics, so no agent starts on a missing one."""
        result: list[BaseException] = []

        async def prepare() -> None:
            await ensure_topics(self.kafka, self._topic_names, configs=self._topic_configs)
            found = await topic_max_message_bytes(self.kafka, self.deadletter_topic.get_topic_name())
            if found is not None:
                self.deadletter_limit = min(found, 2 * self.kafka.max_message_bytes)  # producer: 2x (above)

        def run() -> None:
            try:
                asyncio.run(prepare())
            except BaseException as exc:  # noqa: BLE001 - reported below, in the worker's thread
                result.append(exc)

        thread = threading.Thread(target=run, name="ensure-topics")
        thread.start()
        thread.join()
        if result:
            log.error("could not create topics; Faust will try", error=type(result[0]).__name__)

    def topic(self, *contract_names: str) -> faust.TopicT:
        """Declare our topics (created on start-up if missing) with raw bytes key/value; several make one channel."""
        names = [topics.name(c) for c in contract_names]
        self._topic_names.extend(n for n in names if n not in self._topic_names)
        return self.app.topic(
            *names,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            internal=True,
            partitions=self.kafka.topic_partitions,
            replicas=self.kafka.topic_replication_factor,
        )

    def table(self, name: str, *, expiry: Expiry | None = None, **kwargs: Any) -> Any:
        """A changelogged table keyed by str, its changelog created as declared in topic_catalog.

        With `expiry`, its entries expire (tables.py): pass the table to `run_guarded(expire=...)` of
        the agent whose events write it, which sweeps each partition while handling that partition.
        """
        config = changelog_config(self.name, name)
        table = Table(
            self.app,
            name=name,
            default=None,
            beacon=self.app.tables.beacon,
            partitions=self.kafka.topic_partitions,
            key_type=str,
            extra_topic_configs=config,
            expiry=expiry,
            **kwargs,
        )
        self.app.tables.add(table)
        # created with the other topics before the consumer subscribes: a changelog still being created when the
        # group is assigned is left out of the assignment ("Ignoring missing topic") until a later rebalance
        self._topic_configs[table.changelog_topic_name] = config
        self._topic_names.append(table.changelog_topic_name)
        if not self._tables:
            metrics.register_table_source(lambda: [(t.name, len(t.data)) for t in self._tables])
        self._tables.append(table)
        return table

    def sweep(self, tables: Sequence[Table], partition: int) -> None:
        """Expire the entries of `partition` of each table, at most once per EXPIRY_INTERVAL_SECONDS.

        Called while handling an event of `partition` (run_guarded), so only the worker that owns the
        partition writes its tombstones, in line with the writes of that partition's own events. The
        tombstones do not join the event's sends: one that fails only leaves the entry for the next sweep.
        """
        now = time.monotonic()
        for table in tables:
            last = self._swept.get((table.name, partition))
            if last is not None and now - last < self.settings.expiry_interval_seconds:
                continue
            self._swept[(table.name, partition)] = now
            try:
                sends = table.sweep(partition)
            except Exception as exc:  # noqa: BLE001 - expiry must never stop the agent; the next sweep retries
                log.error("expiry sweep failed", table=table.name, error_type=type(exc).__name__, where=_where(exc))
                continue
            for sent in sends:
                sent.add_done_callback(_tombstone_done)
            if sends:
                metrics.expired(table.name, len(sends))
                log.info("table entries expired", table=table.name, partition=partition, entries=len(sends))

    def case_keys(self) -> CaseKeys:
        """The case key table, followed by a task of this worker when sealing is on (secret case-key-kek)."""
        keys = CaseKeys(kek_from_settings(), self.kafka)
        if topics.name(topics.CASEKEYS) not in self._topic_names:  # created at start-up either way, as declared
            self._topic_names.append(topics.name(topics.CASEKEYS))
        if keys.enabled:
            self.app.task(keys.run)
        return keys

    def add_readiness(self, check: ReadinessCheck) -> None:
        """Register a check that returns None when ready or a short reason when not."""
        self._readiness.append(check)

    def not_ready_reasons(self) -> list[str]:
        """Why the worker is not ready; empty when it is."""
        reasons = [r for r in (c() for c in self._readiness) if r]
        consumer = self.app.consumer if self.app.producer.started else None
        if consumer is None:
            reasons.append("not connected to Kafka")
        elif not self.app.consumer.assignment():
            reasons.append("no partitions assigned")
        if self.app.rebalancing:
            reasons.append("rebalancing")
        return reasons

    def _register_views(self) -> None:
        service = self

        @self.app.page("/healthz")
        class Healthz(View):
            async def get(self, request: Request) -> Response:
                loops = event_loop.running(service.app.consumer)  # which loops it runs on (EVENT_LOOP)
                return self.json({"status": "alive", "service": service.name, "event_loops": loops})

        @self.app.page("/readyz")
        class Readyz(View):
            async def get(self, request: Request) -> Response:
                reasons = service.not_ready_reasons()
                if reasons:
                    return self.json({"status": "not ready", "reasons": reasons}, status=503)
                return self.json({"status": "ready", "service": service.name})

        @self.app.page("/metrics")
        class Metrics(View):
            async def get(self, request: Request) -> Response:
                body, content_type = metrics.exposition()
                # as a header: aiohttp refuses a content_type argument that carries a charset (HTTP 500)
                return self.bytes(body, headers={"Content-Type": content_type})

    async def send(
        self,
        topic: faust.TopicT,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        partition: int | None = None,
    ) -> None:
        """Produce (to `partition` when given, else by key); the event's offset waits for the broker's ack.

        Inside `run_guarded` the acknowledgement is awaited with the event's other sends, after the
        handler returns (one round trip per batch, not per message); elsewhere it is awaited here.
        """
        name = topic.get_topic_name()
        fut = await produce(self.app, name, key, value, list(headers) if headers else None, partition)
        metrics.event_out(self.name, name)
        pending = current.get()
        if pending is None:
            await fut
        else:
            pending.sends.append(fut)

    async def dead_letter(self, source: SourceMessage, exc: BaseException, **ids: Any) -> None:
        """Write a dead letter; if even that fails repeatedly, stop the process so the offset is not committed."""
        record, value = fit(
            dead_letter(source, self.name, exc, **ids),
            functools.partial(self.codec.encode, "DeadLetter"),
            budget(self.deadletter_limit),
        )
        log.warning(
            "dead-lettered",
            stage=self.name,
            reason=record["reason"],
            detail=record["message"],
            source_topic=source.topic,
            source_partition=source.partition,
            source_offset=source.offset,
            case_id=ids.get("case_id"),
            truncated=[cut["part"] for cut in record["truncated"]] or None,
        )
        metrics.count(self.name, record["reason"])
        metrics.dead_lettered(self.name, record["reason"])
        tracing.mark_outcome(record["reason"], error=True)
        digest_only = self.codec.encode("DeadLetter", without_bytes(record))  # kept after the bytes expire
        delay = 0.5
        token = current.set(None)  # the dead letter itself is awaited here, with its retries
        try:
            for attempt in range(6):
                try:
                    for topic, letter in ((self.deadletter_topic, value), (self.deadletter_digests_topic, digest_only)):
                        with tracing.send_span(topic.get_topic_name()):  # a dead letter shows in its report's trace
                            await self.send(topic, letter_key(source.key), letter)
                    return
                except Exception as send_exc:  # noqa: BLE001 - any failure here is fatal below
                    log.error("dead-letter write failed", attempt=attempt, error=type(send_exc).__name__)
                    await asyncio.sleep(delay)
                    delay *= 2
        finally:
            current.reset(token)
        log.critical("cannot write to the dead-letter topic; stopping without committing the offset")
        os._exit(75)

    def agent(
        self, topic: Any, handler: Handler, *, name: str, concurrency: int = 1, expire: Sequence[Table] = ()
    ) -> Any:
        """A Faust agent named `name` (module.function) on `topic`: every event to `handler` through `run_guarded`."""

        async def guarded(stream: StreamT[bytes]) -> None:
            await self.run_guarded(stream, handler, concurrency=concurrency, expire=expire)

        return self.app.agent(topic, name=name)(guarded)

    async def run_guarded(
        self, stream: StreamT[bytes], handler: Handler, *, concurrency: int = 1, expire: Sequence[Table] = ()
    ) -> None:
        """Process every event with `handler`; any failure is dead-lettered and the partition moves on.

        Faust acknowledges an event even when the agent raises, so a failure must never escape.
        Each event is handled in Faust's own iteration (so it is the current event: its table writes
        land in its changelog partition), in arrival order. Sends are not awaited one by one: the
        sends of a batch of events (`_Batch`) are awaited together in the background while the next
        events are handled, and an event's offset is acknowledged once its handler has returned and
        all its sends are on the broker, strictly in arrival order (`InFlight`), so a commit never
        passes an event that is not finished. With `concurrency` > 1 up to that many handlers run at
        once, each in its own task (the handler must serialise what needs it, e.g. per key). Before
        each event, the expired entries of the `expire` tables in the event's partition are removed (`sweep`).
        """
        inflight = InFlight(self.settings.max_in_flight)
        handlers = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[Any]] = set()
        batch = _Batch(self, stream, inflight, tasks)
        try:
            async for event in stream.events():
                if len(inflight) >= inflight.limit:
                    await inflight.wait_for_room()
                # Hold the message: Faust's own ack (when the next event is read) no longer lets the
                # offset be committed; ours, in `InFlight`, does once the event is finished.
                event.message.incref()
                source = _source(event.message)
                pending = Pending()  # in this event's context: its table writes land in its partition
                self.sweep(expire, source.partition)
                if concurrency == 1:
                    await self._handle_event(source, handler, pending, event)
                    batch.add(source, pending, event)
                else:
                    await handlers.acquire()
                    task = _spawn(tasks, self._handle_and_settle(source, handler, pending, handlers, event))
                    inflight.add(pending, task, functools.partial(release, stream, event))
        finally:
            batch.close()
            for task in list(tasks):  # stopping: unfinished events stay unacknowledged and are replayed
                task.cancel()

    async def _handle_and_settle(
        self, source: SourceMessage, handler: Handler, pending: Pending, handlers: asyncio.Semaphore, event: Any
    ) -> bool:
        """One event in its own task (concurrency > 1): the handler slot is freed before its sends settle."""
        try:
            await self._handle_event(source, handler, pending, event)
        finally:
            handlers.release()
        return await self._settle([(source, pending)])

    async def _handle_event(self, source: SourceMessage, handler: Handler, pending: Pending, event: Any) -> None:
        """Run the handler in this event's process span and log context; its sends go to `pending`."""
        spans = self._process_spans
        if spans is None:
            await self._handle_in_context(source, handler, pending)
            return
        message = event.message  # the span is current in this task only: attached and detached here
        state = spans.on_stream_event_in(message.tp, message.offset, self, event)  # never raises; `self.app`: group
        try:
            await self._handle_in_context(source, handler, pending)
        finally:
            spans.on_stream_event_out(message.tp, message.offset, self, event, state)

    async def _handle_in_context(self, source: SourceMessage, handler: Handler, pending: Pending) -> None:
        """Run the handler with this event's log context and span attributes."""
        # Every log line of this event carries its stage and case id (the key from intake on).
        key = source.key
        case_id = key.decode("utf-8", "replace") if isinstance(key, bytes) else None
        case_id = case_id if case_id and case_id.startswith("case-") else None
        # Bound and reset directly (not `bound_contextvars`: a generator per event; not `bind_contextvars`: a
        # name look-up per variable); the span gets the case id only when it records (`span_ids`: `annotate`
        # would bind it in the log context a second time).
        bound = rb_logging.bind_event(self.name, case_id)
        try:
            if case_id is not None:
                tracing.span_ids(case_id=case_id)
            metrics.event_in(self.name)
            pending.started = time.perf_counter()
            token = current.set(pending)
            try:
                pending.outcome = await self._handle_guarded(source, handler)
            finally:
                current.reset(token)
                flush_changelog(pending)  # one changelog record per key the event wrote (tables.py)
        finally:
            rb_logging.unbind_event(bound)

    async def _settle(self, handled: Sequence[tuple[SourceMessage, Pending]]) -> bool:
        """Await the sends of a batch's events together; dead-letter, in order, each event whose send failed.

        True once every event of the batch may be acknowledged (`InFlight` runs their state callbacks).
        """
        results = await outcomes([send for _, pending in handled for send in pending.sends])
        at = 0
        for source, pending in handled:
            mine, at = results[at : at + len(pending.sends)], at + len(pending.sends)
            failed = next((r for r in mine if isinstance(r, BaseException)), None)
            if failed is not None:
                if isinstance(failed, asyncio.CancelledError):
                    raise failed
                log.error("output not written", error_type=type(failed).__name__, stage=self.name)
                await self.dead_letter(
                    source,
                    OutputNotWrittenError(
                        f"the broker did not take this event's output ({type(failed).__name__}); "
                        "replay the dead letter once the cause is fixed"
                    ),
                )
                pending.outcome = "dead_lettered"
            metrics.stage_latency(self.name, pending.outcome, (time.perf_counter() - pending.started) * 1000)
        return True

    async def _handle_guarded(self, source: SourceMessage, handler: Handler) -> str:
        """Run the handler on one event; dead-letter any failure. Returns `ok` or `dead_lettered`."""
        try:
            if self.codec.schema_registry is not None:  # the writer of this event and the ids we write, off the loop
                await self.codec.prefetch(source.value, encodes=self.encodes)
            await handler(source)
            return "ok"
        except Exception as exc:  # noqa: BLE001 - every failure is dead-lettered, by design
            if not isinstance(exc, RejectedMessage):
                log.error("handler failed", error_type=type(exc).__name__, where=_where(exc))
            await self.dead_letter(
                source,
                exc,
                case_id=getattr(exc, "case_id", None),
                referral_id=getattr(exc, "referral_id", None),
            )
            return "dead_lettered"


class _Batch:
    """Handled events whose sends are awaited together: one task and one gather per batch, not per event.

    The batch is closed (its settling task started, its events queued in `InFlight` in order) when it
    holds BATCH_MAX_EVENTS events, when no further event is waiting in the stream's buffer, or at the
    latest BATCH_WINDOW_MS after it opened. Closing adds no latency downstream: the sends are already
    with the producer; only the acknowledgement of the offsets waits for them.
    """

    def __init__(self, service: Service, stream: StreamT[bytes], inflight: InFlight, tasks: set[asyncio.Task[Any]]):
        self.service, self.stream, self.inflight, self.tasks = service, stream, inflight, tasks
        self.size = service.settings.batch_max_events
        self.window = service.settings.batch_window_ms / 1000
        self.events: list[tuple[SourceMessage, Pending, Any]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.queue: Any = None  # the stream's buffer, taken once the stream is iterating

    def add(self, source: SourceMessage, pending: Pending, event: Any) -> None:
        """One more handled event; close the batch if it is full or nothing else is waiting."""
        self.events.append((source, pending, event))
        if self.queue is None:
            channel: Any = self.stream.channel
            self.queue = channel.queue
        if len(self.events) >= self.size or self.queue.empty():
            self.close()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.window, self.close)

    def close(self) -> None:
        """Settle the batch's sends in one task; its events are acknowledged in order once it is done."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.events:
            return
        events, self.events = self.events, []
        task = _spawn(self.tasks, self.service._settle([(s, p) for s, p, _ in events]))
        for _, pending, event in events:
            self.inflight.add(pending, task, functools.partial(release, self.stream, event))


def load_or_exit(service: str, what: str, load: Callable[[], T]) -> T:
    """`load()`, or stop the worker at start-up: every problem on stderr, exit code 78 (configuration error)."""
    try:
        return load()
    except ReferralBusError as exc:
        problems = exc.problems if isinstance(exc, RulesError) else [str(exc)]
        sys.stderr.write(f"{service}: cannot start, {what} do not load:\n  " + "\n  ".join(problems) + "\n")
        raise SystemExit(78) from None


def _spawn(tasks: set[asyncio.Task[Any]], coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run `coro` in a task kept in `tasks` until it ends (cancelled with them when the agent stops)."""
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


LOG_APPEND_TIME = 1  # a record's timestamp_type when the broker stamped it (Kafka's TimestampType)


def _source(msg: Any) -> SourceMessage:
    """Our handlers' view of a Faust message."""
    return source_message(
        msg.topic,
        msg.partition,
        msg.offset,
        msg.key,
        msg.value,
        normalise_headers(msg.headers),
        None if msg.timestamp is None else round(msg.timestamp * 1000),
        msg.timestamp_type == LOG_APPEND_TIME,
    )


def _tombstone_done(sent: asyncio.Future[Any]) -> None:
    """Log a tombstone the broker did not take (the entry is expired again by a later sweep)."""
    if not sent.cancelled() and sent.exception() is not None:
        log.error("expiry tombstone not written", error_type=type(sent.exception()).__name__)
