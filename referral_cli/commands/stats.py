"""`referral-bus stats export|rebuild|report`: anonymised weekly statistics (docs/statistics.md).

`export` and `report` read what the stats service published on referrals.stats.v1 (only figures that
passed disclosure control); `rebuild` recomputes every week from the retained topics (cases, decisions,
receipts, dead letters) with the same pure code as the worker and publishes the result.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.errors import RejectedMessage
from referral_bus.settings import KafkaSettings
from referral_cli.commands import add, arg, group
from referral_devstack.reading import read_to_end
from services.stats.errors import StatsError
from services.stats.settings import StatsSettings

SOURCES = (
    (topics.CASES, "Case"),
    (topics.DECISIONS, "RoutingDecision"),
    (topics.RECEIPTS, "DeliveryReceipt"),
    (topics.DEADLETTER, "DeadLetter"),
    # the same dead letters without their bytes, kept a year: each counted once (by its source position)
    (topics.DEADLETTER_DIGESTS, "DeadLetter"),
)


async def published(kafka: KafkaSettings, codec: Codec, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The latest WeeklyStatistics record of every week on referrals.stats.v1, sorted by week."""
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for r in await read_to_end(kafka, topics.name(topics.STATS), timeout=timeout):
        record = codec.decode(r.value, "WeeklyStatistics")
        if record["week"] not in latest or latest[record["week"]][0] <= r.timestamp:
            latest[record["week"]] = (r.timestamp, record)
    return [latest[w][1] for w in sorted(latest)]


async def recompute(
    kafka: KafkaSettings, settings: StatsSettings, codec: Codec, timeout: float = 120.0
) -> list[dict[str, Any]]:
    """WeeklyStatistics for every week, recomputed from the retained topics."""
    from services.stats.aggregate import Aggregator
    from services.stats.dimensions import load_kinds
    from services.stats.figures import collect
    from services.stats.publish import Policy, weekly_statistics
    from services.stats.weeks import closed

    kinds = load_kinds(settings.config_path, settings.directory_path)
    counts: dict[str, int] = {}
    agg = Aggregator(counts, {}, kinds, home_country=settings.home_country)
    apply = {
        "Case": agg.case,
        "RoutingDecision": agg.decision,
        "DeliveryReceipt": agg.receipt,
        "DeadLetter": agg.dead_letter,
    }
    skipped = 0
    for topic, record_name in SOURCES:
        records = await read_to_end(kafka, topics.name(topic), timeout=timeout)
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            try:
                value = codec.decode(r.value, record_name)
            except RejectedMessage:  # the worker dead-letters these (and counts that dead letter)
                skipped += 1
                continue
            apply[record_name](value, r.partition)
    if skipped:
        print(f"stats rebuild: {skipped} undecodable record(s) skipped (the worker dead-letters these)")
    policy = Policy(settings.k, settings.min_province_total, settings.publish_after_hours)
    now = int(time.time() * 1000)
    return [
        weekly_statistics(f, policy, kinds, generated_at=now)
        for week, f in sorted(collect(counts.items()).items())
        if closed(week, now, policy.publish_after_hours)
    ]


def _between(records: list[dict[str, Any]], first: str | None, last: str | None) -> list[dict[str, Any]]:
    from services.stats.weeks import weeks_between

    if first is None and last is None:
        return records
    if first is None or last is None:
        raise StatsError("give both --from and --to (ISO weeks, e.g. --from 2026-W40 --to 2026-W48)")
    wanted = set(weeks_between(first, last))
    return [r for r in records if r["week"] in wanted]


def _export(args: argparse.Namespace) -> int:
    from services.stats.export import to_csv, to_json

    records = _between(asyncio.run(published(KafkaSettings(), Codec())), args.first, args.last)
    if not records:
        raise StatsError(
            "no published statistics for those weeks; is the stats worker running (or run `stats rebuild`)?"
        )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    stem = f"statistics_{records[0]['week']}_{records[-1]['week']}"
    (out / f"{stem}.csv").write_text(to_csv(records), encoding="utf-8")
    (out / f"{stem}.json").write_text(to_json(records), encoding="utf-8")
    print(f"{len(records)} week(s) → {out / stem}.csv, {out / stem}.json (suppressed values: empty / null)")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from services.stats.export import text

    kafka, codec = KafkaSettings(), Codec()
    records = asyncio.run(recompute(kafka, StatsSettings(), codec))
    if args.publish:
        asyncio.run(_send(kafka, codec, records))
    for record in records:
        print(text(record) if args.verbose else f"{record['week']}: {_summary(record)}")
    print(
        f"stats rebuild: {len(records)} week(s) "
        + (f"published to {topics.name(topics.STATS)}" if args.publish else "computed")
    )
    return 0


def _summary(record: dict[str, Any]) -> str:
    total = next(t for t in record["tables"] if t["table_id"] == "cases_by_category_province")["total"]
    shown = total if total is not None else f"<{record['k']}"
    return f"cases {shown}, withheld provinces {len(record['withheld_provinces'])}"


async def _send(kafka: KafkaSettings, codec: Codec, records: list[dict[str, Any]]) -> None:
    from aiokafka import AIOKafkaProducer

    from referral_bus.kafka import client_kwargs, ensure_topics

    name = topics.name(topics.STATS)
    await ensure_topics(kafka, [name])
    producer = AIOKafkaProducer(**client_kwargs(kafka), acks="all")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(name, codec.encode("WeeklyStatistics", record), key=record["week"].encode())
    finally:
        await producer.stop()


def _report(args: argparse.Namespace) -> int:
    from services.stats.dashboard import render

    records = _between(asyncio.run(published(KafkaSettings(), Codec())), args.first, args.last)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(records), encoding="utf-8")
    print(f"{len(records)} week(s) → {args.out} (self-contained HTML, suppressed figures only)")
    return 0


def register(sub: Any) -> None:
    """Add the `stats` command group."""
    actions = group(sub, "stats", "anonymised weekly statistics (export, rebuild, dashboard)")
    weeks = (
        arg("--from", dest="first", help="first ISO week, e.g. 2026-W40"),
        arg("--to", dest="last", help="last ISO week, inclusive"),
    )
    export_to = arg("--out", type=Path, default=Path("."), help="directory for the files (default: here)")
    add(actions, "export", _export, "published weeks → CSV and JSON, suppression marked", *weeks, export_to)
    add(
        actions,
        "rebuild",
        _rebuild,
        "recompute every week from the retained topics and publish",
        arg("--no-publish", dest="publish", action="store_false", help="compute and print only"),
        arg("--verbose", action="store_true", help="print each week's category × province table"),
    )
    report_to = arg("--out", type=Path, default=Path("statistics.html"), help="HTML file to write")
    add(actions, "report", _report, "static HTML dashboard of the published weeks", *weeks, report_to)
