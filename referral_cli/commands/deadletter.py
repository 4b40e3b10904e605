"""`referral-bus deadletter list|replay`: inspect dead letters and re-submit chosen ones after a fix.

`list` prints one row per dead letter (stage, reason, message, source topic/partition/offset); the
message never holds a personal-data value, by contract. `replay` re-produces the original bytes to the
source topic with the original key and headers (minus trace context, which the new produce starts
afresh) and a `referral-bus-replay-count` header, so a replay that fails again is dead-lettered with
its count and can be told apart from the first failure.

A dead letter whose original was too large to keep whole (`truncated`, see referral_bus/deadletter.py)
cannot be replayed from the dead letter: `replay` says so and skips it; `replay --from-source` reads the
original again from its source topic/partition/offset (while retention keeps it), checks it against the
sha-256 in the dead letter, and re-produces that.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.errors import ReferralBusError
from referral_bus.kafka import client_kwargs
from referral_bus.message import REPLAY_HEADER
from referral_bus.settings import KafkaSettings
from referral_cli.commands import add, arg, group
from referral_devstack.reading import read_to_end

TRACE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})
REPLAY_OF_HEADER = "referral-bus-replay-of"


@dataclass(frozen=True)
class Letters:
    """The dead letters read, and how many records could not be decoded as DeadLetter."""

    records: list[dict[str, Any]]
    unreadable: int


async def read_letters(kafka: KafkaSettings, *, topic: str | None = None, timeout: float = 30.0) -> Letters:
    """Every dead letter on the topic up to its current end, in partition/offset order."""
    raw = await read_to_end(kafka, topic or topics.name(topics.DEADLETTER), timeout=timeout)
    codec = Codec()
    records, unreadable = [], 0
    for r in sorted(raw, key=lambda r: (r.partition, r.offset)):
        try:
            records.append(codec.decode(r.value or b"", "DeadLetter"))
        except ReferralBusError:
            unreadable += 1
    return Letters(records, unreadable)


def select(
    letters: list[dict[str, Any]],
    *,
    stage: str | None = None,
    reason: str | None = None,
    ids: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The letters matching every filter given."""
    wanted = set(ids or [])
    return [
        d
        for d in letters
        if (stage is None or d["stage"] == stage)
        and (reason is None or d["reason"] == reason)
        and (not wanted or d["dead_letter_id"] in wanted)
    ]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(letters: list[dict[str, Any]]) -> list[str]:
    """Rows for `deadletter list`."""
    header = f"{'DEAD LETTER ID':<36}  {'STAGE':<9} {'REASON':<21} {'SOURCE':<44} {'REPLAYS':>7}  MESSAGE"
    rows = [header]
    for d in letters:
        source = f"{d['source_topic']}/{d['source_partition']}@{d['source_offset']}"
        message = ("[original truncated] " if d.get("truncated") else "") + d["message"]
        rows.append(
            f"{d['dead_letter_id']:<36}  {d['stage']:<9} {d['reason']:<21} {_short(source, 44):<44} "
            f"{d['replay_count']:>7}  {_short(message, 100)}"
        )
    return rows


def replay_headers(letter: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Original headers minus trace context and earlier replay marks, plus this replay's count and origin."""
    drop = TRACE_HEADERS | {REPLAY_HEADER, REPLAY_OF_HEADER}
    kept = [(h["key"], h["value"]) for h in letter["original_headers"] if h["key"].lower() not in drop]
    return [
        *[(k, v if v is not None else b"") for k, v in kept],
        (REPLAY_HEADER, str(letter["replay_count"] + 1).encode()),
        (REPLAY_OF_HEADER, letter["dead_letter_id"].encode()),
    ]


async def replay(letters: list[dict[str, Any]], kafka: KafkaSettings) -> list[tuple[dict[str, Any], int, int]]:
    """Re-produce each letter's original to its source topic; (letter, partition, offset) of each replay.

    A replay the broker refuses has partition and offset -1 (e.g. an original at the size limit: the
    replay headers make it larger).
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    producer = AIOKafkaProducer(
        **client_kwargs(kafka), acks="all", enable_idempotence=True, max_request_size=kafka.max_message_bytes * 2
    )
    await producer.start()
    try:
        futures = [
            (
                d,
                await producer.send(
                    d["source_topic"], d["original_value"], key=d["original_key"], headers=replay_headers(d)
                ),
            )
            for d in letters
        ]
        out = []
        for d, fut in futures:
            try:
                meta = await fut
            except KafkaError as exc:
                print(f"failed {d['dead_letter_id']}: the broker refused the replay ({type(exc).__name__})")
                out.append((d, -1, -1))
                continue
            out.append((d, meta.partition, meta.offset))
        return out
    finally:
        await producer.stop()


def truncation_note(letter: dict[str, Any]) -> str | None:
    """Why `letter` cannot be replayed from the dead letter itself, and how to replay it; None if it can."""
    cuts = letter.get("truncated") or []
    if not cuts:
        return None
    parts = ", ".join(f"{c['part']} (kept {c['kept']} of {c['size']} bytes, sha-256 {c['sha256'][:16]}…)" for c in cuts)
    where = f"{letter['source_topic']}/{letter['source_partition']}@{letter['source_offset']}"
    return (
        f"the original was truncated in the dead letter: {parts}; it cannot be replayed from the dead letter. "
        f"Replay it from its source {where} while the topic's retention keeps it: "
        f"referral-bus deadletter replay --id {letter['dead_letter_id']} --from-source"
    )


def _matches(letter: dict[str, Any], key: bytes | None, value: bytes | None) -> bool:
    """The record read at the source position is the one the dead letter was cut from (sha-256 of each cut part)."""
    parts = {"original_value": value, "original_key": key}
    for cut in letter.get("truncated") or []:
        data = parts.get(cut["part"])
        if cut["part"] in parts and (data is None or hashlib.sha256(data).hexdigest() != cut["sha256"]):
            return False
    return True


async def from_source(letters: list[dict[str, Any]], kafka: KafkaSettings) -> list[dict[str, Any]]:
    """Each letter with its original read again from the source position; a ReferralBusError if one is gone."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        **client_kwargs(kafka), enable_auto_commit=False, max_partition_fetch_bytes=kafka.max_message_bytes * 2
    )
    await consumer.start()
    out = []
    try:
        for d in letters:
            tp = TopicPartition(d["source_topic"], d["source_partition"])
            consumer.assign([tp])
            consumer.seek(tp, d["source_offset"])
            batch = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
            records = batch.get(tp, [])
            where = f"{d['source_topic']}/{d['source_partition']}@{d['source_offset']}"
            if not records or records[0].offset != d["source_offset"]:
                raise ReferralBusError(f"the original of {d['dead_letter_id']} is no longer at {where} (retention)")
            r = records[0]
            if not _matches(d, r.key, r.value):
                raise ReferralBusError(f"the record at {where} does not match the sha-256 in {d['dead_letter_id']}")
            headers = [{"key": k, "value": v} for k, v in r.headers or ()]
            out.append({**d, "original_key": r.key, "original_value": r.value, "original_headers": headers})
    finally:
        await consumer.stop()
    return out


def _one_per_source(letters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop re-written copies of one failure (at-least-once can dead-letter one source message twice)."""
    seen: set[tuple[str, int, int]] = set()
    out = []
    for d in letters:
        where = (d["source_topic"], d["source_partition"], d["source_offset"])
        if where not in seen:
            seen.add(where)
            out.append(d)
    return out


def _list(args: argparse.Namespace) -> int:
    letters = asyncio.run(read_letters(KafkaSettings(), topic=args.topic))
    chosen = select(letters.records, stage=args.stage, reason=args.reason)
    for row in table(chosen[-args.limit :] if args.limit else chosen):
        print(row)
    summary = f"{len(chosen)} of {len(letters.records)} dead letter(s)"
    if letters.unreadable:
        summary += f"; {letters.unreadable} record(s) on the topic are not DeadLetter records"
    print(summary)
    return 0


def _replay(args: argparse.Namespace) -> int:
    if not args.id and not args.reason:
        raise ReferralBusError("say which dead letters to replay: --id DEAD_LETTER_ID (repeatable) or --reason CODE")
    kafka = KafkaSettings()
    letters = asyncio.run(read_letters(kafka, topic=args.topic))
    chosen = _one_per_source(select(letters.records, stage=args.stage, reason=args.reason, ids=args.id))
    missing = set(args.id or []) - {d["dead_letter_id"] for d in chosen}
    if missing:
        raise ReferralBusError(f"no dead letter with id {', '.join(sorted(missing))} (see `deadletter list`)")
    skipped = [d for d in chosen if d["original_value"] is None or d["replay_count"] >= args.max_replays]
    if not args.from_source:
        skipped += [d for d in chosen if truncation_note(d) and d not in skipped]
    chosen = [d for d in chosen if d not in skipped]
    for d in skipped:
        why = "no original value" if d["original_value"] is None else f"replayed {d['replay_count']} time(s) already"
        if d["original_value"] is not None and d["replay_count"] < args.max_replays:
            why = truncation_note(d) or why
        print(f"skipped {d['dead_letter_id']}: {why}")
    if args.from_source and chosen and not args.dry_run:
        chosen = asyncio.run(from_source(chosen, kafka))
    if args.dry_run:
        for d in chosen:
            print(f"would replay {d['dead_letter_id']} ({d['reason']}) to {d['source_topic']}")
        print(f"{len(chosen)} dead letter(s) would be replayed")
        return 0
    done = [r for r in asyncio.run(replay(chosen, kafka)) if r[1] >= 0]
    for d, partition, offset in done:
        print(f"replayed {d['dead_letter_id']} ({d['reason']}) to {d['source_topic']}/{partition}@{offset}")
    print(
        f"{len(done)} dead letter(s) replayed"
        + (f", {len(chosen) - len(done)} refused" if len(done) < len(chosen) else "")
    )
    return 0 if len(done) == len(chosen) else 1


def register(sub: Any) -> None:
    """Add the `deadletter` group."""
    actions = group(sub, "deadletter", "inspect and re-submit dead letters")
    topic = arg("--topic", help="dead-letter topic (default: the namespaced referrals.deadletter.v1)")
    add(
        actions,
        "list",
        _list,
        "dead letters: stage, reason, message, source position",
        arg("--stage", help="only this stage (intake, routing, notifier)"),
        arg("--reason", help="only this reason code (e.g. invalid_field)"),
        arg("--limit", type=int, default=0, help="only the last N"),
        topic,
    )
    add(
        actions,
        "replay",
        _replay,
        "re-produce chosen originals to their source topic",
        arg("--id", action="append", help="dead_letter_id to replay (repeatable)"),
        arg("--reason", help="replay every dead letter with this reason code"),
        arg("--stage", help="only dead letters of this stage"),
        arg("--max-replays", type=int, default=3, help="skip letters replayed this many times (default 3)"),
        arg("--dry-run", action="store_true", help="show what would be replayed"),
        arg(
            "--from-source",
            action="store_true",
            help="re-read each original from its source topic/partition/offset (needed when it was truncated)",
        ),
        topic,
    )
