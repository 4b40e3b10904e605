"""The bench's driver and receiver process together through the real broker: every report offered arrives, named."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer

from bench.baseline_common import AiohttpPoster
from bench.drive import Load, offer, summarise
from bench.reports import ReportStream
from bench.sink import ReceiverProcess
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import KafkaSettings
from referral_domain.disclosure import canonical
from services.notifier.http_client import HttpClient

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
N = 300


async def _relay(topic: str, receiver: ReceiverProcess, n: int) -> None:
    """Read the topic and POST each record as its stage would: even offsets the notifier's document, odd the
    baseline's bytes with its headers."""
    codec, ours, baseline = Codec(), HttpClient(verify_tls=False), AiohttpPoster()
    consumer = AIOKafkaConsumer(topic, **client_kwargs(KafkaSettings()), auto_offset_reset="earliest")
    await consumer.start()
    try:
        posted = 0
        while posted < n:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    url = f"{receiver.base_url}/{r.partition}"
                    if r.offset % 2:
                        await baseline.post(url, r.key, r.value, list(r.headers))
                    else:
                        doc = {"case": {"report": codec.decode(r.value, "CaseReport")}, "referral_id": "x"}
                        assert await ours.post(url, canonical(doc), {"Content-Type": "application/json"}, 10) == 200
                    posted += 1
    finally:
        await consumer.stop()
        await ours.close()
        await baseline.close()


async def test_every_report_the_driver_offers_arrives_once_named_with_its_scheduled_time(
    kafka: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka)
    topic, other = f"{namespace}.bench-intake", f"{namespace}.bench-other"
    await ensure_topics(KafkaSettings(topic_partitions=4), [topic, other])
    receiver = ReceiverProcess()
    await receiver.start()
    try:
        async with Load(topic) as load:
            tag = f"{namespace}-r"
            await load.producer.partitions_for(topic)  # the topic's partitions known, as after the bench's warm-up
            t0_ms, prepared = load.prepare(ReportStream(tag=tag), N, 500.0)
            relay = asyncio.ensure_future(_relay(topic, receiver, N))
            futures, _ = await offer(load, prepared, t0_ms, 500.0)
            partitions = {m.partition for m in await asyncio.gather(*futures)}
            await asyncio.wait_for(relay, 120)
            # the partition picked when preparing is the one the producer picks for the key on its own
            picked = await asyncio.gather(*[await load.producer.send(other, v, key=k) for k, v, _, _ in prepared])
            assert [m.partition for m in picked] == [p for _, _, _, p in prepared]
        deadline = time.monotonic() + 30
        while len(receiver.arrivals) < N and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        result = summarise(receiver, tag, N, t0_ms)
    finally:
        await receiver.stop()
    assert (result["delivered"], result["lost"], result["duplicates"]) == (N, 0, 0) and partitions == {0, 1, 2, 3}
    scheduled = {(key.decode().split("/", 1)[1], float(sent)) for key, _, sent, _ in prepared}
    assert {a.identify() for a in receiver.arrivals} == scheduled  # each named, with its scheduled send time
