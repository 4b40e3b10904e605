"""The Kafka adapter: client options (plaintext, TLS, SASL), topic creation, the worker's reads and sends.

Every reach of a worker into a private attribute of Faust or aiokafka outside faust_patches.py is here, so an
upgrade has one place to check (the tooling's own: referral_devstack/reading.py, kafka_acls.py).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from referral_bus import topics
from referral_bus.settings import KafkaSettings


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (CA file, client certificate), or None for plaintext."""
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.ssl_certfile and kafka.ssl_keyfile:
        context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile))
    return context


def faust_credentials(kafka: KafkaSettings) -> Any:
    """Faust credentials for TLS and/or SASL, or None for plaintext."""
    import faust

    context = ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password,
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def client_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    context = ssl_context(kafka)
    if context is not None:
        kwargs["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password
    return kwargs


async def ensure_topics(
    kafka: KafkaSettings, names: list[str], *, configs: dict[str, dict[str, str]] | None = None, timeout: float = 60.0
) -> list[str]:
    """Create the topics that do not exist yet (with `configs[name]`, else as declared); return the ones created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**client_kwargs(kafka), request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            n,
                            kafka.topic_partitions,
                            kafka.topic_replication_factor,
                            topic_configs=(configs or {}).get(n)
                            or topics.created_config(n),  # compacted: stats, changelogs
                        )
                        for n in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass
        deadline = asyncio.get_running_loop().time() + timeout
        while missing and asyncio.get_running_loop().time() < deadline:
            if set(missing) <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.2)
        return missing
    finally:
        await admin.close()


async def topic_setting(kafka: KafkaSettings, topic: str, setting: str, *, timeout: float = 10.0) -> str | None:
    """One setting of `topic` as the broker holds it (e.g. max.message.bytes), or None if unknown."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(**client_kwargs(kafka), request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        wanted = ConfigResource(ConfigResourceType.TOPIC, topic, configs={setting: None})
        responses = await asyncio.wait_for(admin.describe_configs([wanted]), timeout)
        for _error, _message, _type, _name, entries in responses[0].resources:
            for entry in entries:
                if entry[0] == setting and entry[1] is not None:
                    return str(entry[1])
        return None
    except Exception:  # noqa: BLE001 - unknown: the caller falls back to its setting
        return None
    finally:
        await admin.close()


async def topic_max_message_bytes(kafka: KafkaSettings, topic: str, *, timeout: float = 10.0) -> int | None:
    """The broker's size limit for one record batch on `topic` (its max.message.bytes), or None if unknown."""
    value = await topic_setting(kafka, topic, "max.message.bytes", timeout=timeout)
    return int(value) if value is not None and value.isdigit() else None


def read_offset(consumer: Any, tp: Any) -> int | None:
    """The next offset a Faust consumer will hand out on `tp` (None before it read anything there)."""
    offset: int | None = consumer._read_offset.get(tp)
    return offset


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset a Faust consumer last committed on `tp` (None before any commit)."""
    offset: int | None = consumer._committed_offset.get(tp)
    return offset


async def produce(
    app: Any,
    topic: str,
    key: bytes | None,
    value: bytes,
    headers: list[tuple[str, bytes]] | None,
    partition: int | None,
) -> Any:
    """Hand one record to the worker's producer; returns the future of the broker's acknowledgement.

    The aiokafka producer Faust started, not `Topic.send` nor Faust's `Producer.send`: our topics carry
    raw bytes, so Faust's per-send future message, serialiser look-ups, statistics sensors, start check
    and produce signal would only cost CPU (issue 17). Same producer (its partitioner, its tracing
    wrapper, tracing.py); before Faust started it, or with transactions (never ours), Faust's path.
    """
    client = app.producer._producer  # Faust's AIOKafkaProducer, None until the producer service started
    if client is None or app.in_transaction:
        producer = await app.maybe_start_producer()
        return await producer.send(topic, key, value, partition=partition, timestamp=None, headers=headers)
    return await client.send(topic, value, key=key, partition=partition, headers=headers)


def producer_client(app: Any) -> Any:
    """The aiokafka producer of `app`'s Faust producer (None until that producer service started)."""
    return app.producer._producer


def started_producer(app: Any) -> Any:
    """The aiokafka producer Faust started for `app`, when table changelog records may go straight to it; else None.

    None before Faust started it, while Faust's own producer buffer still holds records (they go first, to keep
    the records' order), and with transactions (never ours): then Faust's path (tables.Table.send_changelog).
    """
    producer = app.producer
    client = producer._producer
    if client is None or app.in_transaction or producer.buffer.size:
        return None
    return client


def release(stream: Any, event: Any) -> None:
    """Release our hold on an event's message: Faust may now commit its offset."""
    if event.ack():
        message = event.message
        stream._on_message_out(message.tp, message.offset, message)


def drop_builtin_pages(app: Any) -> None:
    """Serve none of Faust's built-in web pages (tables, router, statistics, index): only the app's own.

    Faust applies its blueprints when the web server starts, so emptying the list before that is enough.
    """
    app.web.blueprints._enabled = []


def tables_recovered(app: Any) -> bool:
    """True once Faust has restored every assigned table partition from its changelog (and no rebalance runs)."""
    return not app.rebalancing and bool(app.tables.recovery.completed.is_set())


KEY_HASHES_CACHED = 16384  # keys whose hash a worker keeps (an event's key is hashed for each of its sends)


_M, _U32 = 0x5BD1E995, 0xFFFFFFFF  # murmur2's mixing constant; 32-bit arithmetic
_WORDS: dict[int, Callable[[bytes], tuple[int, ...]]] = {}  # word count → its compiled little-endian unpacker
_WORDS_KEPT = 64  # keys up to 256 bytes keep theirs (ours are ids and digests: 20-80 bytes)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data` (unsigned 32 bits): aiokafka's result, with its 4-byte words read at once.

    aiokafka's pure-Python version assembles each word from four bytes and masks after every step: 2.5× the
    time of this one on a 64-character content digest (intake hashes two new ones per report, bench/results/icpu.md).
    The words' unpacker is compiled once per length; a word's mix is masked once (bench/results/micro.md).
    """
    length = len(data)
    h = 0x9747B28C ^ length
    count = length >> 2
    unpack = _WORDS.get(count)
    if unpack is None:
        unpack = struct.Struct(f"<{count}I").unpack_from
        if count <= _WORDS_KEPT:
            _WORDS[count] = unpack
    for k in unpack(data):
        k = (k * _M) & _U32
        # (h·M mod 2³²) ^ (k'·M mod 2³²) = (h·M ^ k'·M) mod 2³²: one mask for both products
        h = ((h * _M) ^ ((k ^ (k >> 24)) * _M)) & _U32
    if tail := length & 3:
        at = length - tail
        if tail == 3:
            h ^= data[at + 2] << 16
        if tail >= 2:
            h ^= data[at + 1] << 8
        h = ((h ^ data[at]) * _M) & _U32
    h ^= h >> 13
    h = (h * _M) & _U32
    return h ^ (h >> 15)


_POSITIVE = 0x7FFFFFFF  # the partitioners' mask of the hash; also the largest partition count librdkafka takes
NativeHash = Callable[[None, bytes, int, int, None, None], int]  # librdkafka's partitioner: (…, key, len, count, …)
_native: list[NativeHash | None] = []  # loaded at the first hash (confluent-kafka's import: ≈ 40 ms, once)


def _load_native() -> NativeHash | None:
    """The murmur2 partitioner of librdkafka (confluent-kafka's, a dependency already), if `checked`; else None.

    In C: 0.5 µs a new 64-byte digest instead of `murmur2`'s 4.1 (bench/results/icpu3.md).
    """
    try:
        import ctypes

        from confluent_kafka import cimpl

        fn = ctypes.PyDLL(cimpl.__file__).rd_kafka_msg_partitioner_murmur2  # in cimpl's librdkafka
    except (ImportError, OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int32
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p]
    return checked(fn)


def checked(native: NativeHash) -> NativeHash | None:
    """`native` if it gives `murmur2`'s hash of some keys (every tail length, every byte value), else None."""
    keys = (b"", b"21", b"abc", b"foobar", b"a-little-bit-longer-string", bytes(range(256)), b"\xff" * 67)
    return native if all(hash31(k, native) == murmur2(k) & _POSITIVE for k in keys) else None


def hash31(key: bytes, native: NativeHash | None) -> int:
    """`murmur2(key) & 0x7FFFFFFF`, by `native` when given, whose `(that) % (2³¹−1)` is that but for a 0.

    A 0 stands for hash 0 or 2³¹−1: worked out again here.
    """
    if native is not None and (h := native(None, key, len(key), _POSITIVE, None, None)):
        return h
    return murmur2(key) & _POSITIVE


@functools.lru_cache(maxsize=KEY_HASHES_CACHED)
def _key_hash(key: bytes) -> int:
    """The murmur2 hash of `key` as aiokafka's partitioner uses it (positive): cached."""
    if not _native:
        _native.append(_load_native())
    return hash31(key, _native[0])


def key_partition(key: bytes, partitions: int) -> int:
    """The partition the producer's default partitioner gives `key` among `partitions` (murmur2, as Java's)."""
    return _key_hash(key) % partitions


class KeyPartitioner:
    """aiokafka's default partitioner with the keys' hashes cached (each worker's producer: shell.Service)."""

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        """The partition of `key` among `all_partitions` (sorted by id); no key: aiokafka's random choice."""
        if not isinstance(key, bytes):
            from aiokafka.partitioner import DefaultPartitioner

            return int(DefaultPartitioner()(key, all_partitions, available))
        return all_partitions[_key_hash(key) % len(all_partitions)]


def topic_partition_count(app: Any, topic: str) -> int | None:
    """`topic`'s partition count in the worker consumer's cluster metadata (None while not known).

    Not Faust's `consumer.topic_partitions`: it reads aiokafka's group snapshot, which only the group's
    leader keeps (empty on every other member, stale on a former leader).
    """
    consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    if consumer is None:
        return None
    partitions = consumer._client.cluster.partitions_for_topic(topic)
    return len(partitions) if partitions else None


def held_partitions(app: Any, topic: str, *changelogs: str) -> tuple[int, frozenset[int]] | None:
    """`topic`'s partition count and the partitions of it (and of each changelog) this worker holds actively.

    None while a rebalance runs or tables recover, or before the topic's metadata is known: the caller
    then takes the path that needs no ownership. Read it and act on it without awaiting in between.
    """
    if not tables_recovered(app):
        return None
    count = topic_partition_count(app, topic)
    if not count:
        return None
    actives = _actives_by_topic(app.assignor)
    held = set(actives.get(topic, ()))
    for name in changelogs:
        held.intersection_update(actives.get(name, ()))
    return int(count), frozenset(held)


def _actives_by_topic(assignor: Any) -> Mapping[str, Iterable[int]]:
    """Topic → partitions this worker holds actively: Faust's assignment as it keeps it (read per event).

    `assigned_actives()` builds a set of every assigned topic partition on each call (one per agency's
    topic and changelog: 3.6 % of intake's samples when called per report, bench/results/hot.md).
    """
    assignment = getattr(assignor, "_assignment", None)
    actives = getattr(assignment, "actives", None)
    if isinstance(actives, Mapping):
        return actives
    by_topic: dict[str, list[int]] = {}
    for tp in assignor.assigned_actives():
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return by_topic
