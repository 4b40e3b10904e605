"""The registry client against a real local HTTP server: negative cache, refused writer schemas, off-loop look-ups."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus import schema_registry
from referral_bus.codec import Codec, confluent_frame
from referral_bus.contracts import contracts
from referral_bus.errors import RegistryUnavailableError, UnknownSchemaError, WriterSchemaRefusedError
from referral_bus.schema_registry import RegistryConfig, SchemaRegistry
from referral_bus.writer_schema import MAX_SCHEMA_CHARS
from tests.support.registry_stub import registry_stub

TTL = 60.0


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry(url: str, clock: Clock | None = None, **config: Any) -> SchemaRegistry:
    conf = RegistryConfig(url, **{"max_retries": 0, "timeout_seconds": 5.0, "negative_cache_seconds": TTL, **config})
    return SchemaRegistry(conf, clock=clock or Clock())


def test_unknown_ids_are_asked_once_per_period() -> None:
    """Model: an id is asked again only when its remembered "unknown" has expired."""
    clock = Clock()
    with registry_stub() as stub:
        reg = registry(stub.url, clock)

        @settings(max_examples=60, deadline=None)
        @given(steps=st.lists(st.tuples(st.integers(1, 4), st.sampled_from([0.0, 1.0, 30.0, 59.0, 61.0])), max_size=25))
        def run(steps: list[tuple[int, float]]) -> None:
            reg._unknown.clear()  # one client for every example (building one takes a while)
            stub.requests.clear()
            expected: dict[int, int] = {}
            until: dict[int, float] = {}
            for schema_id, wait in steps:
                clock.now += wait
                with pytest.raises(UnknownSchemaError, match=f"schema id {schema_id} is not in the schema registry"):
                    reg.writer(schema_id)
                if until.get(schema_id, 0.0) <= clock.now:
                    expected[schema_id] = expected.get(schema_id, 0) + 1
                    until[schema_id] = clock.now + TTL
            assert dict(stub.requests) == expected

        run()


def test_the_negative_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema_registry, "NEGATIVE_CACHE_SIZE", 3)
    with registry_stub() as stub:
        reg = registry(stub.url)
        for schema_id in (1, 2, 3, 4, 5):
            with pytest.raises(UnknownSchemaError):
                reg.writer(schema_id)
        assert len(reg._unknown) == 3
        for schema_id in (3, 4, 5, 1):  # 3..5 remembered, 1 dropped (oldest first)
            with pytest.raises(UnknownSchemaError):
                reg.writer(schema_id)
        assert stub.requests == {1: 2, 2: 1, 3: 1, 4: 1, 5: 1}


def test_a_zero_period_turns_the_negative_cache_off() -> None:
    with registry_stub() as stub:
        reg = registry(stub.url, negative_cache_seconds=0)
        for _ in range(3):
            with pytest.raises(UnknownSchemaError):
                reg.writer(9)
        assert stub.requests[9] == 3


RECURSIVE = json.dumps(
    {
        "type": "record",
        "name": "CaseReport",
        "namespace": "org.referralbus.v1",
        "fields": [{"name": "next", "type": ["null", "CaseReport"]}],
    }
)


def extra_field(field_type: Any) -> str:
    theirs = json.loads(json.dumps(contracts().current["CaseReport"].expanded))
    theirs["fields"].append({"name": "blob", "type": field_type})
    return json.dumps(theirs)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (RECURSIVE, "no recursive types"),
        (json.dumps({"type": "array", "items": "null"}), "take zero bytes"),
        (" " * MAX_SCHEMA_CHARS + '"string"', "bounded size"),
        ("[" * 100_000 + "]" * 100_000, "bounded nesting"),
        (extra_field({"type": "array", "items": "string"}), "only scalar fields"),
    ],
    ids=["recursive", "array-of-null", "huge-text", "deep-json", "unusable-field"],
)
def test_a_refused_writer_schema_is_writer_schema_refused_and_remembered(text: str, rule: str) -> None:
    with registry_stub({7: text}) as stub:
        codec = Codec(schema_registry=registry(stub.url))
        for _ in range(2):
            with pytest.raises(WriterSchemaRefusedError) as exc:
                codec.decode(confluent_frame(7, b"\x02\x00"), "CaseReport")
            assert exc.value.reason == "writer_schema_refused"
            assert "schema id 7" in str(exc.value) and rule in str(exc.value)
        assert text[:200] not in str(exc.value) or text.startswith(" ")  # never the schema body
        if rule != "only scalar fields":  # refused by the registry client: asked once, remembered for good
            assert stub.requests[7] == 1


async def test_look_ups_run_off_the_event_loop() -> None:
    """A registry that takes a second to answer: the loop keeps running meanwhile."""
    with registry_stub({5: json.dumps(contracts().current["CaseReport"].expanded)}, delay_seconds=1.0) as stub:
        codec = Codec(schema_registry=registry(stub.url))
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        try:
            await codec.prefetch(confluent_frame(5, b""))
        finally:
            task.cancel()
        assert ticks >= 20  # about 100 expected in one second; any blocking call would leave ~1
        assert codec.schema_registry is not None and codec.schema_registry.cached_writer(5) is not None


async def test_a_negatively_cached_id_is_answered_without_a_thread_or_a_request() -> None:
    with registry_stub() as stub:
        codec = Codec(schema_registry=registry(stub.url))
        for _ in range(3):
            with pytest.raises(UnknownSchemaError):
                await codec.prefetch(confluent_frame(11, b""))
        assert stub.requests[11] == 1


async def test_a_look_up_past_its_deadline_is_registry_unavailable() -> None:
    codec = Codec(schema_registry=registry("http://127.0.0.1:1"))
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError, match="did not answer within"):
        await codec._off_loop(0.2, time.sleep, 2.0)
    assert time.monotonic() - started < 1.5


def test_the_deadline_covers_every_retry_and_wait() -> None:
    conf = RegistryConfig("http://x", timeout_seconds=5.0, max_retries=3, retry_max_wait_ms=2000)
    assert conf.deadline_seconds == 5.0 * 4 + 2.0 * 3 + 1


async def test_events_waiting_for_one_new_id_share_one_request() -> None:
    with registry_stub({6: json.dumps(contracts().current["CaseReport"].expanded)}, delay_seconds=0.5) as stub:
        codec = Codec(schema_registry=registry(stub.url))
        await asyncio.gather(*(codec.prefetch(confluent_frame(6, b"")) for _ in range(8)))
        assert stub.requests[6] == 1
