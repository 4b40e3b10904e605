"""CPU per table changelog record, Faust's path against the ordered hand-off, alternated in one process.

A `tables.Table` of a Faust app whose producer is started on the shared broker writes N records (as a worker
does: a few per event, the loop running between events), then waits for every acknowledgement; the CPU of the
process (`time.process_time`) per record. `faust` = Faust's `send_changelog` → `send_soon` → its producer
buffer and task → `Producer.send`; `direct` = `changelog_sends.OrderedSends` (what `Table.send_changelog` does).

    python -m bench.changelog_cost --records 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
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


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.records, args.rounds))))


if __name__ == "__main__":
    cli()
