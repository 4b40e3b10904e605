"""CPU per table changelog record, Faust's path against the ordered hand-off, alternated in one process.

A `tables.Table` of a Faust app whose producer is started on the shared broker writes N records (as a worker
does: a few per event, the loop running between events), then waits for every acknowledgement; the CPU of the
process (`time.process_time`) per record. `faust` = Faust's `send_changelog` → `send_soon` → its producer
buffer and task → `Producer.send`; `direct` = `changelog_sends.OrderedSends` (what `Table.send_changelog` does).

    python -m bench.changelog_cost --records 20000 --rounds 3

`--serialise`: no broker; the serialisation of each kind of record our tables write (intake's dedup and content
entries, routing's `routed` state, the notifier's `referral_state` entry, from the bench's own reports), Faust's
`prepare_key` + `prepare_value` (main's path) against `changelog_json.ChangelogJson` (this tree's), interleaved in
one process: CPU µs per record, median of `--rounds` (best of 5 × 2,000 records each), and a check of equal bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import tempfile
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import KafkaSettings
from referral_bus.tables import Table

PARTITIONS = 4
PER_EVENT = 3  # records one event writes (intake: dedup and two content entries)


async def write(table: Table, n: int, direct: bool) -> float:
    """CPU seconds for `n` changelog records through one path, acknowledgements included."""
    if not direct:
        table._ordered_sends = lambda: None  # type: ignore[method-assign]  # Faust's path for this run
    else:
        table.__dict__.pop("_ordered_sends", None)
    start = time.process_time()
    sent = []
    for i in range(n):
        sent.append(table.send_changelog(i % PARTITIONS, f"key-{i % 997}", {"status": "ok", "at": i}))
        if i % PER_EVENT == PER_EVENT - 1:
            await asyncio.sleep(0)  # the next event
    await asyncio.gather(*sent)
    return time.process_time() - start


async def main(records: int, rounds: int) -> dict[str, Any]:
    kafka = KafkaSettings()
    app_id = f"chlcost-{uuid.uuid4().hex[:8]}"
    app = faust.App(app_id, broker=f"kafka://{kafka.bootstrap_servers}", store="memory://", value_serializer="json")
    table = Table(app, name="t", default=None, key_type=str, partitions=PARTITIONS)
    await ensure_topics(kafka, [table.changelog_topic.get_topic_name()])
    await app.producer.start()
    figures: dict[str, list[float]] = {"faust": [], "direct": []}
    try:
        await write(table, 2000, True)  # warm: metadata, connections, batches
        await write(table, 2000, False)
        for _ in range(rounds):
            for path in ("faust", "direct"):
                figures[path].append(1e6 * await write(table, records, path == "direct") / records)
    finally:
        await app.producer.stop()
        admin = AIOKafkaAdminClient(**client_kwargs(kafka))
        await admin.start()
        try:
            await admin.delete_topics([table.changelog_topic.get_topic_name()])
        finally:
            await admin.close()
    medians = {path: round(statistics.median(values), 2) for path, values in figures.items()}
    return {
        "cpu_us_per_record": {path: [round(v, 2) for v in values] for path, values in figures.items()},
        "median": medians,
        "direct_over_faust": round(medians["direct"] / medians["faust"], 3),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def table_records(n: int) -> dict[str, list[tuple[str, Any]]]:
    """`n` (key, value) of each kind of changelog record the workers write, from the bench's reports."""
    from bench.bench_routing import encoded_cases, route
    from bench.stackconfig import write_config
    from referral_bus.codec import Codec
    from referral_bus.settings import SafeguardSettings
    from referral_domain.safeguards import Gate, load_safeguards
    from services.notifier.lifecycle import lifecycle_fields
    from services.notifier.sla import delivered_state
    from services.routing.rules import load_rules

    codec = Codec(schema_registry=None)
    with tempfile.TemporaryDirectory(prefix="bench-chl-") as work:
        ruleset = load_rules(*write_config(Path(work), "http://127.0.0.1:9"))
    gate = Gate(load_safeguards(SafeguardSettings().safeguards_path, dev_insecure_transport=True), ruleset.directory)
    cases = encoded_cases(codec, n)
    routed: dict[str, Any] = {}
    for _, value in cases:
        route(codec, ruleset, gate, routed, value)
    states = []
    for i, (key, value) in enumerate(cases):
        case = codec.decode(value, "Case")
        referral = {
            "referral_id": f"ref-{i}",
            "case_id": key.decode(),
            "recipient_id": "police",
            "case": case,
            "priority": "P2",
            "ack_sla_seconds": 14_400,
            "created_at": 1,
            "escalation_target": None,
            "rule_ids": ["bench-police-at-province"],
        }
        state = delivered_state(referral, value, i % 12, recipient_target="duty", delivered_at=2)
        states.append((referral["referral_id"], {**state, **lifecycle_fields(referral, value, "police", 2)}))
    reports = [codec.decode(value, "Case")["report"] for _, value in cases]
    content = [
        (
            f"sha256:{i:064x}",
            {
                "case_id": key.decode(),
                "first_seen_ms": 1_733_280_000_000 + i,
                "agency_id": r["agency_id"],
                "report_id": r["report_id"],
                "claim_no": i % 50,
            },
        )
        for i, ((key, _), r) in enumerate(zip(cases, reports, strict=True))
    ]
    return {
        "dedup": [
            (f'["{r["agency_id"]}","{r["report_id"]}"]', key.decode())
            for (key, _), r in zip(cases, reports, strict=True)
        ],
        "content": content,
        "routed": list(routed.items()),
        "referral_state": states,
    }


def serialise(n: int, rounds: int) -> dict[str, Any]:
    """Faust's prepare_key + prepare_value against ChangelogJson, per kind of record, interleaved (CPU µs a record)."""
    from referral_bus.changelog_json import ChangelogJson

    app = faust.App(f"chlser-{uuid.uuid4().hex[:8]}", store="memory://", value_serializer="json")
    topic = Table(app, name="t", default=None, key_type=str).changelog_topic
    ours = ChangelogJson(topic)
    assert ours.encoder is not None, "Faust's chain is not the stock one here"

    def faust_path(records: list[tuple[str, Any]]) -> None:
        for key, value in records:
            topic.prepare_key(key, "json")
            topic.prepare_value(value, "json")

    def direct(records: list[tuple[str, Any]]) -> None:
        for key, value in records:
            ours.key(key, "json")
            ours.value(value, "json")

    out: dict[str, Any] = {}
    for kind, records in table_records(n).items():
        assert all(
            (ours.key(k, "json"), ours.value(v, "json"))
            == (topic.prepare_key(k, "json")[0], topic.prepare_value(v, "json")[0])
            for k, v in records
        ), kind
        figures: dict[str, list[float]] = {"faust": [], "direct": []}
        for _ in range(rounds):
            for path, run in (("faust", faust_path), ("direct", direct)):
                best = min(timeit.repeat(functools.partial(run, records), timer=time.process_time, number=1, repeat=5))
                figures[path].append(1e6 * best / len(records))
        medians = {path: round(statistics.median(values), 2) for path, values in figures.items()}
        size = statistics.median(len(topic.prepare_value(v, "json")[0]) for _, v in records)
        out[kind] = {
            **medians,
            "direct_over_faust": round(medians["direct"] / medians["faust"], 3),
            "value_bytes": size,
        }
    out["load_average"] = [round(x, 1) for x in os.getloadavg()]
    return out


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serialise", action="store_true", help="the serialisation alone, no broker")
    args = parser.parse_args()
    if args.serialise:
        print(json.dumps(serialise(min(args.records, 2000), args.rounds)))
        return
    print(json.dumps(asyncio.run(main(args.records, args.rounds))))


if __name__ == "__main__":
    cli()
