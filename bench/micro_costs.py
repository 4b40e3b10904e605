"""Per-record pure-Python costs of the kernel, per call, in this tree (`python -m bench.micro_costs`).

Run it from two checkouts in turn (A/B, alternating) to compare: each row is the median over `--rounds`
of the best of 5 × `--number` calls. The rows: murmur2 of a new key, a new key's partitioner hash
(`_key_hash` on a cache miss: librdkafka's murmur2 where the tree has it), the producer's cached
partitioner, a uuid5 id, and the reads Faust makes per consumed record (producer buffer size, its ebb
check, event creation) and per changelog record (`kafka.started_producer`), with `faust_patches` installed,
and the shell's per-event message view and log context, and a table read of a present and of a missing key
(`Table.get`: a delivered referral costs the notifier 13, 7 of them misses), and the wait for an event's three
sends (`asyncio.gather`, and `inflight.outcomes` where the tree has it, each with its loop run). `--against
<checkout>`: that checkout's murmur2, key hash and uuid5_text and ours timed in turn in one process (pure
functions: a steadier ratio on a loaded machine).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import statistics
import timeit
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
import structlog

from referral_bus import faust_patches, inflight, kafka
from referral_bus import logging as rb_logging
from referral_bus.ids import uuid5_text
from referral_bus.shell import _source
from referral_bus.tables import Table

_NS = uuid.UUID("9e4d2b6a-1f3c-4b7e-8d05-7a2c9e1f4b33")
_CASE_KEY = b"case-6f1c1f8e-7d5e-4a57-9a1e-2f0b8f1c0a11"  # 41 bytes: case and referral keys
_REPORT_KEY = b"agency-3/report-0000123456"  # status records' key
_DIGEST = b"0f" * 32  # 64 bytes: intake's content digests
_KEYS = (_CASE_KEY, _REPORT_KEY, _DIGEST)


def _drive(coro: Any) -> None:
    """Run a coroutine that does not wait to its end (Faust's on_message awaits these inline)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("the coroutine waited")


class _Message:
    """A consumed record as Faust hands it to the shell (one trace header)."""

    topic, partition, offset, key, value = "ns.referrals.cases.v1", 3, 123456, _CASE_KEY, b"x" * 600
    headers = (("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),)
    timestamp, timestamp_type = 1733280000.123, 1


def _log_context() -> None:
    """Bind and reset one event's log context as the shell of this tree does (structlog's calls before `bind_event`)."""
    bind = getattr(rb_logging, "bind_event", None)
    if bind is not None:
        rb_logging.unbind_event(bind("routing", "case-6f1c1f8e"))
        return
    bound = structlog.contextvars.bind_contextvars(stage="routing", case_id="case-6f1c1f8e", report_id=None)
    structlog.contextvars.reset_contextvars(**bound)


def _settling(collect: Callable[[list[asyncio.Future[Any]]], Awaitable[Any]]) -> Callable[[], Any]:
    """One event's three sends acknowledged together and collected by `collect` (with the loop turns it takes)."""
    loop = asyncio.new_event_loop()

    async def one() -> None:
        sends = [loop.create_future() for _ in range(3)]
        waiting = loop.create_task(collect(sends))
        await asyncio.sleep(0)  # the event's task waits for its sends
        for send in sends:
            send.set_result(None)
        await waiting

    return lambda: loop.run_until_complete(one())


def _settle_rows() -> dict[str, Callable[[], Any]]:
    """The shell's wait for an event's sends: `asyncio.gather` and, where this tree has it, `inflight.outcomes`."""

    async def gathered(sends: list[asyncio.Future[Any]]) -> list[Any]:
        return await asyncio.gather(*sends, return_exceptions=True)

    rows = {"settle 3 sends: asyncio.gather": _settling(gathered)}
    mine = getattr(inflight, "outcomes", None)
    if mine is not None:
        rows["settle 3 sends: inflight.outcomes"] = _settling(mine)
    return rows


def cases() -> dict[str, Callable[[], Any]]:
    """What is timed, by row name."""
    faust_patches.install()
    app = faust.App("micro-costs", broker="kafka://127.0.0.1:9", autodiscover=False)
    buffer = app.producer.buffer
    partitioner, partitions = kafka.KeyPartitioner(), list(range(6))
    no_message: Any = None  # an event needs no message to be built
    app.producer._producer = object()  # type: ignore[attr-defined]  # a started producer, never used here
    table = Table(app, name="micro-costs", default=None, key_type=str)
    table.data["present"] = {"status": "DELIVERED"}
    return {
        "murmur2 41-byte key (miss)": lambda: kafka.murmur2(_CASE_KEY),
        "murmur2 26-byte key (miss)": lambda: kafka.murmur2(_REPORT_KEY),
        "murmur2 64-byte digest (miss)": lambda: kafka.murmur2(_DIGEST),
        **{f"key hash {len(k)}-byte key (miss)": functools.partial(kafka._key_hash.__wrapped__, k) for k in _KEYS},
        "partitioner, cached key": lambda: partitioner(bytes(_CASE_KEY), partitions, partitions),
        "uuid5_text": lambda: uuid5_text(_NS, "agency-3/report-0000123456/case-6f1c/ROUTED/"),
        "producer buffer size": lambda: buffer.size,
        "wait_until_ebb (per consumed record)": lambda: _drive(buffer.wait_until_ebb()),
        "create_event (per consumed record)": lambda: app.create_event(b"k", b"v", [], no_message),
        "started_producer (per changelog record)": lambda: kafka.started_producer(app),
        "SourceMessage of a record (shell._source)": lambda: _source(_Message),
        "log context bind + reset (per event)": _log_context,
        "table read, present key (Table.get)": lambda: table.get("present"),
        "table read, missing key (Table.get)": lambda: table.get("missing"),
        **_settle_rows(),
    }


def measure(rounds: int, number: int) -> dict[str, float]:
    """Median µs per call of each case over `rounds` (each the best of 5 repeats)."""
    timed = cases()
    out: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(rounds):
        for name, fn in timed.items():
            out[name].append(min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6)
    return {name: round(statistics.median(values), 3) for name, values in out.items()}


def _module_of(tree: Path, name: str) -> Any:
    """`referral_bus/<name>.py` of another checkout, loaded beside ours (its own imports are this tree's)."""
    spec = importlib.util.spec_from_file_location(f"other_{name}", tree / "referral_bus" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interleaved(other: Path, rounds: int, number: int) -> dict[str, dict[str, float]]:
    """The pure functions (murmur2, a new key's hash, uuid5_text) of `other` and of this tree, timed in turn."""
    kafka_b, ids_b = _module_of(other, "kafka"), _module_of(other, "ids")
    hashes = {  # row label → (the other tree's function, ours): the key hash uncached (a new key)
        "murmur2": (kafka_b.murmur2, kafka.murmur2),
        "key hash": (kafka_b._key_hash.__wrapped__, kafka._key_hash.__wrapped__),
    }
    pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        f"{label} {len(key)}-byte key": (functools.partial(b, key), functools.partial(a, key))
        for label, (b, a) in hashes.items()
        for key in _KEYS
    }
    name = "agency-3/report-0000123456/case-6f1c/ROUTED/"
    pairs["uuid5_text"] = (lambda: ids_b.uuid5_text(_NS, name), lambda: uuid5_text(_NS, name))
    out: dict[str, dict[str, list[float]]] = {row: {"other": [], "this": []} for row in pairs}
    for _ in range(rounds):
        for row, (theirs, ours) in pairs.items():
            for side, fn in (("other", theirs), ("this", ours)):
                out[row][side].append(min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6)
    return {
        row: {side: round(statistics.median(values), 3) for side, values in sides.items()} for row, sides in out.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--against", type=Path, help="another checkout: its murmur2 and uuid5_text in turn with ours")
    args = parser.parse_args()
    asyncio.set_event_loop(asyncio.new_event_loop())
    if args.against:
        print(json.dumps(interleaved(args.against, args.rounds, args.number)))
        return
    print(json.dumps(measure(args.rounds, args.number)))


if __name__ == "__main__":
    main()
