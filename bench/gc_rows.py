"""What each table row costs the garbage collector: tracked objects it adds, and a full collection's pause.

A full (generation-2) collection walks every object the collector tracks; a row whose values are all
untracked (str, int, None, tuples of those) costs it nothing. Rows are written through the real code in
process (no broker; changelog sends dropped), after the start-up objects were frozen as a worker does:

- `notifier`: referrals through `Notifier.handle` (real tables, delivered-once marks, SLA index and pending
  tally, lifecycle) to a webhook channel that does its CPU work without posting; `--acked` of them then
  acknowledged (ACCEPTED, then COMPLETED) through `Notifier.ack`.
- `notifier-rows`: the same `referral_state` rows (delivered, awaiting an acknowledgement) written through
  `Notifier._set_state` and the delivered-once mark only: fast enough for 10^6 rows (one referral record
  shared by every row; strings are never walked).
- `notifier-other`: rows of its other tables as its handlers build them: `early_acks` (one kept acknowledgement),
  `parked` (a retry not due yet), `breakers` (a breaker's snapshot).
- `routing`: `routed` rows (`CaseState.to_json`); `intake`: `content`, `dedup` and `pending` rows as the
  correlator and the dedup write them; both through the kernel's `Table`.
- `inbox`: entries of the inbox's table through `InboxHandler.document` (a full case each), then a receipt and
  an answer (model.apply_receipt, apply_ack); `stats`: `members` and `facts` rows through the statistics'
  `Aggregator` (tests/support/stats.generate: cases, decisions, receipts); `--rows` is the number of cases;
  `ledger`: `seen` and `heads` rows as its handler writes them.
- `recovered`: `referral_state` rows (delivered) recovered from their changelog records into the notifier's table
  (`Table.apply_changelog_batch`, decoded records in batches of 1,000 as Faust's recovery hands them), its store
  made before the freeze as a worker's is; `--at start`: recovered before the freeze too (a worker is ready, and
  freezes, only once its first assignment is recovered: shell.py), `--at rebalance`: after it (partitions assigned
  later), `--at both`: half each; `--unpacked`: the table without its packed fields (as before bench/results/pk.md).

    python -m bench.gc_rows [--part notifier --rows 20000 --acked 0.5] [--repeats 5] [--young 20000]
                            [--changelog] [--at start|rebalance|both] [--unpacked] [--json]

Prints, per part: tracked objects per row by type (after a full collection, so only what stays tracked),
and a full `gc.collect()`'s ms with the rows held (median of `--repeats`, each after the previous one); the
time writing the rows took and the collections that ran meanwhile (count and seconds by generation), and the
tracked containers holding a row each (what a full collection still walks per row); `prepare_s`, the time the
rows' inputs took (for `recovered --at start`, the recovery). `--changelog`: each
write's changelog record is serialised as the worker does (dropped, not produced); `--young`: the youngest
generation's threshold once frozen (the worker's is shell.GC_YOUNG_THRESHOLD), CPython's otherwise.
Run it on two trees (`PYTHONPATH=<tree> python <this file>`) to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import statistics
import time
import uuid
from types import SimpleNamespace
from typing import Any, cast

import faust

from bench.notifier_path import NullWebhook, referrals
from bench.stackconfig import write_config
from referral_bus import logging as rb_logging
from referral_bus.codec import Codec
from referral_bus.expiry import Expiry
from referral_bus.message import SourceMessage
from referral_bus.settings import SafeguardSettings
from referral_bus.tables import Table
from referral_devstack.workers import temp_workdir
from referral_domain import lifecycle as rb_lifecycle
from referral_domain.directory import load_directory
from referral_domain.safeguards import Gate, load_safeguards
from services.notifier import lifecycle
from services.notifier.actions import RecipientActions
from services.notifier.backoff import RetryPolicy
from services.notifier.breaker import Breakers
from services.notifier.deliver import Deliverer
from services.notifier.delivered import DeliveredMarks
from services.notifier.handlers import Notifier, Tables
from services.notifier.lifecycle import lifecycle_fields
from services.notifier.retention import closed
from services.notifier.sla import after_delivery, delivered_state
from tests.support import notifier as nt
from tests.support.tables import record

PARTITIONS = 12
DAY_MS = 86_400_000


class DroppedSends:
    """The worker's ordered changelog hand-off, the serialised records dropped (counted) instead of produced."""

    client = None
    records = 0

    def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int) -> None:
        DroppedSends.records += 1


class QuietTable(Table):
    """The kernel's table, each key's partition from its hash (no Faust event), its changelog records dropped.

    With `serialise` set (`--changelog`), each record is first serialised as the worker does (tables.py).
    """

    serialise = False

    def send_changelog(
        self, partition: Any, key: Any, value: Any, key_serializer: Any = None, value_serializer: Any = None
    ) -> Any:
        if not QuietTable.serialise:
            return None
        return super().send_changelog(partition, key, value, key_serializer, value_serializer)

    def _ordered_sends(self) -> Any:
        return DroppedSends()

    def partition_for_key(self, key: Any) -> int:
        return hash(key) % PARTITIONS


def memory_app(prefix: str) -> faust.App:
    """A Faust app of its own (`prefix` and a random suffix) with an in-memory store."""
    return faust.App(f"{prefix}-{uuid.uuid4().hex[:8]}", store="memory://")


def table(app: faust.App, name: str, **kwargs: Any) -> Any:
    """A `QuietTable` named `name` in `app`."""
    return QuietTable(app, name=name, default=None, key_type=str, **kwargs)


def packed_as_declared(module: Any) -> dict[str, Any]:
    """The `packed` fields the app declares for its table (`module.PACKED`), none on a tree from before them."""
    fields = getattr(module, "PACKED", None)
    return {"packed": fields} if fields else {}


class FakeService:
    """What the notifier's handlers use of a Service: its codec, partitions, topics by name and sends (dropped)."""

    name = "notifier"
    codec = Codec()
    kafka = SimpleNamespace(topic_partitions=PARTITIONS)

    def topic(self, contract: str) -> str:
        return contract

    async def send(self, topic: Any, key: bytes, value: bytes) -> None:
        return None

    async def dead_letter(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"dead letter in the probe: {args[1]!r}")


class Registry:
    """An agency registry with no status topics (the agencies' status events are dropped)."""

    def status_topics(self) -> dict[str, str]:
        return {}


def build_notifier(directory: Any, gate: Gate) -> Notifier:
    """The real Notifier over quiet tables, as app.py builds it (lifecycle on)."""
    service = FakeService()
    as_service = cast(Any, service)
    app = memory_app("gc-rows")
    retention = 30 * DAY_MS
    state = table(app, "referral_state", expiry=Expiry(retention, closed=closed), **packed_as_declared(lifecycle))
    tables = Tables(
        delivered=DeliveredMarks(state, legacy=table(app, "deliveries", expiry=Expiry(retention))),
        parked=table(app, "parked"),
        state=state,
        escalations=table(app, "escalations"),
        breakers=table(app, "breakers"),
        early_acks=table(app, "early_acks"),
    )
    notifier = Notifier(
        service=as_service,
        topics=nt.named_topics(as_service, disclosures=cast(Any, "disclosures")),
        tables=tables,
        directory=directory,
        deliverer=Deliverer(directory, {"webhook": NullWebhook()}, tables.delivered, safeguards_version="bench"),
        policy=RetryPolicy(8, 1.0, 300.0, 86_400.0),
        breakers=Breakers(1_000_000, 30.0, saved=lambda rid: []),
        breaker_reset_seconds=30.0,
        owned=lambda: frozenset(range(PARTITIONS)),
        still_owned=lambda partition: True,
        gate=gate,
    )
    topics = cast(Any, SimpleNamespace(emit_for=_no_status, emit=_no_status))
    notifier.actions = RecipientActions(
        as_service, rb_lifecycle.from_settings(), directory, state, notifier.emit, cast(Any, "reroute"), topics
    )
    return notifier


async def _no_status(*args: Any, **kwargs: Any) -> None:
    return None


def ack_value(codec: Codec, referral: dict[str, Any], outcome: str, at: int) -> bytes:
    """An Acknowledgement of `referral` by its recipient."""
    return codec.encode(
        "Acknowledgement",
        {
            "referral_id": referral["referral_id"],
            "recipient_id": referral["recipient_id"],
            "outcome": outcome,
            "acknowledged_at": at,
            "action_id": f"{referral['referral_id']}/{outcome}",
        },
    )


def tracked_by_type() -> collections.Counter[str]:
    """Every object the collector tracks, by type name (after a full collection)."""
    gc.collect()
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def full_collections(repeats: int) -> dict[str, Any]:
    """The first full collection's ms (it also walks what the rows' writes left young), then `repeats` more."""
    t = time.perf_counter()
    gc.collect()
    first = (time.perf_counter() - t) * 1000
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - t) * 1000)
    return {
        "first_ms": round(first, 1),
        "ms": round(statistics.median(times), 1),
        "all_ms": [round(x, 1) for x in times],
    }


class CollectionsTimed:
    """`gc.callbacks` hook: how many collections of each generation ran while installed, and their seconds."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count[info["generation"]] += 1
            self.seconds[info["generation"]] += time.perf_counter() - self._start


def walked_containers(rows: int) -> list[str]:
    """The tracked containers holding at least half a row each: what a full collection still walks per row."""
    big = [o for o in gc.get_objects() if isinstance(o, dict | list | set) and len(o) >= rows // 2]
    return sorted(f"{type(o).__name__}[{len(o)}]" for o in big)


def measure(
    part: str, rows: int, prepare: Any, repeats: int, young: int | None = None, inspect: Any = None
) -> dict[str, Any]:
    """Rows written by the writer `prepare(rows)` returns (it returns what holds them): tracked objects a row, GC ms.

    `young`: the youngest generation's threshold once frozen (the worker's GC_YOUNG_THRESHOLD), else CPython's.
    `inspect(held)`: more figures of what holds the rows, once written.
    """
    t = time.perf_counter()
    write = prepare(rows)  # the worker's own objects and the rows' inputs: before the freeze
    prepare_s = time.perf_counter() - t
    gc.collect()
    gc.freeze()  # as a worker does once ready (shell.py): start-up objects are not walked
    thresholds = gc.get_threshold()
    if young is not None:
        gc.set_threshold(young, *thresholds[1:])
    before = tracked_by_type()
    timed = CollectionsTimed()
    gc.callbacks.append(timed)
    t = time.perf_counter()
    held = write()
    del write
    built_s = time.perf_counter() - t
    gc.callbacks.remove(timed)
    pauses = full_collections(repeats)
    after = tracked_by_type()
    grown = {k: v for k, v in (after - before).most_common() if v >= rows // 100}
    out = {
        "part": part,
        "rows": rows,
        "tracked_per_row": round((sum(after.values()) - sum(before.values())) / rows, 3),
        "by_type_per_row": {k: round(v / rows, 3) for k, v in grown.items()},
        "full_gc": pauses,
        "build_s": round(built_s, 1),
        "build_collections": timed.count,  # by generation, while the rows were written
        "build_gc_s": [round(x, 2) for x in timed.seconds],
        "walked_containers": walked_containers(rows),
        "changelog_records": DroppedSends.records,
        "prepare_s": round(prepare_s, 1),
        **(inspect(held) if inspect is not None else {}),
    }
    del held
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    gc.collect()
    return out


def notifier_of() -> tuple[Notifier, Any]:
    """A notifier over the bench's directory (provincial police webhooks) and the shipped safeguards."""
    with temp_workdir(prefix="bench-gc-") as work:
        directory_path, _ = write_config(work, "http://127.0.0.1:9")
        directory = load_directory(directory_path)
    gate = Gate(load_safeguards(SafeguardSettings().safeguards_path, dev_insecure_transport=True), directory)
    return build_notifier(directory, gate), directory


def messages(notifier: Notifier, directory: Any, n: int, acked: float) -> tuple[list[Any], list[Any]]:
    """`n` referrals' records (each its own referral id), and ACCEPTED then COMPLETED of the first `n * acked`."""
    codec, now = notifier.codec, int(time.time() * 1000)
    referral_msgs, ack_msgs = [], []
    for i, r in enumerate(referrals(n, directory)):
        r["referral_id"] = f"ref-{i}-{uuid.uuid4().hex[:8]}"
        key, partition = r["case_id"].encode(), hash(r["case_id"]) % PARTITIONS
        referral_msgs.append(SourceMessage("referrals", partition, i, key, codec.encode("Referral", r)))
        if i < n * acked:
            for outcome in ("ACCEPTED", "COMPLETED"):
                ack_msgs.append(SourceMessage("acks", partition, i, key, ack_value(codec, r, outcome, now)))
    return referral_msgs, ack_msgs


async def drive(notifier: Notifier, referral_msgs: list[Any], ack_msgs: list[Any]) -> None:
    """Each referral through `Notifier.handle`, then each acknowledgement through `Notifier.ack`."""
    for msg in referral_msgs:
        await notifier.handle(msg)
    for msg in ack_msgs:
        await notifier.ack(msg)


def notifier_handled(n: int, acked: float) -> Any:
    """`n` referrals delivered through `Notifier.handle`; a fraction `acked` then ACCEPTED and COMPLETED."""
    notifier, directory = notifier_of()
    referral_msgs, ack_msgs = messages(notifier, directory, n, acked)

    def write() -> Any:
        asyncio.run(drive(notifier, referral_msgs, ack_msgs))
        referral_msgs.clear()
        ack_msgs.clear()
        return notifier

    return write


def notifier_rows(n: int) -> Any:
    """`n` delivered `referral_state` rows written as a delivery writes them (state, SLA index, mark)."""
    notifier, directory = notifier_of()
    template = referrals(1, directory)[0]
    value = notifier.codec.encode("Referral", template)
    return lambda: _delivered_rows(notifier, template, value, n)


def _delivered_rows(notifier: Notifier, template: dict[str, Any], value: bytes, n: int) -> Notifier:
    now = int(time.time() * 1000)
    for i in range(n):
        rid = f"ref-{i:08d}-{uuid.uuid4().hex[:8]}"
        referral = {**template, "referral_id": rid, "case_id": f"case-{uuid.uuid4().hex}", "created_at": now + i}
        at = now + i + 50
        state = delivered_state(referral, value, i % PARTITIONS, recipient_target=None, delivered_at=at)
        state = {**state, **lifecycle_fields(referral, value, "police", at)}
        notifier._set_state(rid, after_delivery(notifier.tables.state.get(rid), state))
        notifier.tables.delivered.write_after_sends(rid, at)
    return notifier


def routing_rows(n: int) -> Any:
    """`n` rows of routing's `routed` table: each case's holders, priority and SLA (`CaseState.to_json`)."""
    return lambda: _routed_rows(n)


def _routed_rows(n: int) -> Any:
    from services.routing import linked

    app = memory_app("gc-routing")
    routed = table(app, "routed", expiry=Expiry(DAY_MS), **packed_as_declared(linked))
    for i in range(n):
        holders = {f"police-{i % 63}": f"ref-{uuid.uuid4().hex}", "child-protection-hn": f"ref-{uuid.uuid4().hex}"}
        routed.put(f"case-{uuid.uuid4().hex}", linked.CaseState(holders, "P2", 14_400).to_json())
    return routed


def intake_rows(n: int) -> Any:
    """`n` reports' intake rows: two content entries (a claim each), a dedup mark and a pending case."""
    return lambda: _intake_rows(n)


def _intake_rows(n: int) -> Any:
    from services.intake.correlate import Entry
    from services.intake.quotas import CLAIM_NO

    app = memory_app("gc-intake")
    content, dedup, pending = table(app, "content", expiry=Expiry(DAY_MS)), table(app, "dedup"), table(app, "pending")
    now = int(time.time() * 1000)
    for i in range(n):
        case_id = f"case-{uuid.uuid4().hex}"
        for k in range(2):
            entry = Entry(case_id, now, "hotline-vn", f"rep-{i}").to_json()
            content.put(f"url:{uuid.uuid4().hex}{k}", {**entry, CLAIM_NO: i + 1})
        dedup.put(f"hotline-vn/rep-{i}", case_id)
        pending.put(case_id, "QUJD" * 300)
    return (content, dedup, pending)


def inbox_rows(n: int) -> Any:
    """`n` inbox entries: a delivered document each (`InboxHandler.document`), its DELIVERED receipt and an answer."""
    from services.inbox.handlers import InboxHandler
    from tests.support.inbox import document

    _, directory = notifier_of()
    cases = [r["case"] for r in referrals(64, directory)]
    docs = [json.dumps({**document(f"ref-{i:08d}", "vn-police-ha-noi"), "case": cases[i % 64]}) for i in range(n)]
    return lambda: asyncio.run(_inbox_rows(docs, InboxHandler))


async def _inbox_rows(docs: list[str], handler_class: Any) -> Any:
    from referral_bus.durable import DurableTable
    from services.inbox import model

    app = memory_app("gc-inbox")
    store = table(app, "inbox", **packed_as_declared(model))
    handler = handler_class(DurableTable(store), Codec(), frozenset({"vn-police-ha-noi"}), {}, None)
    now = int(time.time() * 1000)
    for i, doc in enumerate(docs):
        await handler.document(SourceMessage("inbox", i % PARTITIONS, i, b"k", doc.encode()))
        rid = f"ref-{i:08d}"
        entry = model.apply_receipt(handler.table.get(rid), {"status": "DELIVERED", "at": now + i}, "RECEIVED")
        handler.table[rid] = model.apply_ack(entry, {"acknowledged_at": now + i, "outcome": "ACCEPTED", "note": "ok"})
    docs.clear()
    return store


def stats_rows(n: int) -> Any:
    """`n` cases counted by the statistics (`Aggregator`): case, decision, receipts, into `members` and `facts`."""
    from tests.support.stats import AGENCIES, RECIPIENTS, generate

    data = generate(n, weeks=2, seed=3)
    return lambda: _stats_rows(data, AGENCIES, RECIPIENTS)


def _stats_rows(data: Any, agencies: dict[str, str], recipients: dict[str, str]) -> Any:
    from referral_bus.durable import DurableTable
    from services.stats import aggregate
    from services.stats.dimensions import Kinds

    app = memory_app("gc-stats")
    members, facts = table(app, "members"), table(app, "facts", **packed_as_declared(aggregate))
    agg = aggregate.Aggregator(DurableTable(members), DurableTable(facts), Kinds(agencies, recipients))
    for i, case in enumerate(data.cases):
        agg.case(case, i % PARTITIONS)
    for i, decision in enumerate(data.decisions):
        agg.decision(decision, i % PARTITIONS)
    for i, receipt in enumerate(data.receipts):
        agg.receipt(receipt, i % PARTITIONS)
    return (members, facts)


def notifier_other_rows(n: int) -> Any:
    """`n` rows each of the notifier's `early_acks` (one kept acknowledgement), `parked` and `breakers` tables."""
    return lambda: _notifier_other_rows(n)


def _notifier_other_rows(n: int) -> Any:
    from services.notifier import earlyacks

    app = memory_app("gc-notifier")
    early, parked = table(app, "early_acks", **packed_as_declared(earlyacks)), table(app, "parked")
    breakers = table(app, "breakers")
    headers = (("traceparent", b"00-" + b"a" * 50), ("content-type", b"application/json"))
    now = int(time.time() * 1000)
    for i in range(n):
        rid = f"ref-{i:08d}-{uuid.uuid4().hex[:8]}"
        msg = SourceMessage("acks", i % PARTITIONS, i, b"case", b"{" + b"x" * 300 + b"}", headers)
        early.put(rid, earlyacks.keep(None, msg, rid, now_ms=now, held=0, limit=n + 1))
        parked.put(rid, {"case_id": "c", "priority": "P2", "not_before": now, "value": "QUJD" * 300, "partition": 1})
        snap = {"state": "open", "failures": 3, "opened_at": 1.5, "probe_started": 0.0, "at": time.time()}
        breakers.put(f"recipient-{i}|p{i % PARTITIONS}", snap)
    return (early, parked, breakers)


def ledger_rows(n: int) -> Any:
    """`n` ledger entries as its handler writes them: `seen` (entry id → seq) and its partition's `heads` row."""
    return lambda: _ledger_rows(n)


def _ledger_rows(n: int) -> Any:
    from services.ledger.chain import Head
    from services.ledger.handlers import head_key

    app = memory_app("gc-ledger")
    heads, seen = table(app, "heads"), table(app, "seen")
    for i in range(n):
        seen.put(f"disclosure:{uuid.uuid4().hex}", i)
        heads.put(head_key(i % PARTITIONS), Head(i, uuid.uuid4().hex * 2).as_dict())
    return (heads, seen)


RECOVERY_BATCH = 1_000  # records Faust's recovery applies at once (a table's recovery_buffer_size)
RECOVERY_S = [0.0]  # the seconds `_recover` took (before the freeze, inside `prepare_s`)


def recovered_rows(n: int, at: str, packed: bool) -> Any:
    """`n` delivered `referral_state` rows recovered from their changelog records, `at` start, rebalance or both."""
    notifier, directory = notifier_of()
    state = notifier.tables.state
    if not packed:
        state.packed = frozenset()
    assert state.data is not None  # the store: made as the worker's table starts, before its freeze
    referral = referrals(1, directory)[0]
    value, now = notifier.codec.encode("Referral", referral), int(time.time() * 1000)
    row = delivered_state(referral, value, 0, recipient_target=None, delivered_at=now)
    raw = json.dumps({**row, **lifecycle_fields(referral, value, "police", now)})  # as its changelog holds it
    before = {"start": n, "rebalance": 0, "both": n // 2}[at]
    _recover(state, raw, range(before))
    return lambda: _recover(state, raw, range(before, n))


def _recover(state: Table, raw: str, rows: range) -> Table:
    t, batch = time.perf_counter(), []
    for i in rows:
        batch.append(record(f"ref-{i:08d}", json.loads(raw), i % PARTITIONS))  # each record decoded on its own
        if len(batch) == RECOVERY_BATCH or i == rows[-1]:
            state.apply_changelog_batch(batch)
            batch = []
    RECOVERY_S[0] += time.perf_counter() - t
    return state


def frozen(held: Any) -> dict[str, Any]:
    """Whether a table's store dict is frozen (tracked, in no generation: gc.freeze), and the share of its rows."""
    in_generations = {id(o) for o in gc.get_objects()}
    store = held.data.data
    tracked = [v for v in store.values() if gc.is_tracked(v)]
    rows_frozen = sum(1 for v in tracked if id(v) not in in_generations)
    return {
        "recovery_s": round(RECOVERY_S[0], 2),
        "store_frozen": gc.is_tracked(store) and id(store) not in in_generations,
        "rows_tracked": len(tracked),
        "rows_frozen": rows_frozen,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_rows", description=__doc__.splitlines()[0])
    parts = [
        "notifier",
        "notifier-rows",
        "notifier-other",
        "routing",
        "intake",
        "inbox",
        "stats",
        "ledger",
        "recovered",
    ]
    parser.add_argument("--part", choices=parts, default="notifier")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--acked", type=float, default=0.0, help="notifier: fraction of referrals acknowledged")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--young", type=int, help="the youngest generation's threshold once frozen (worker: 20000)")
    parser.add_argument("--changelog", action="store_true", help="serialise each changelog record as the worker does")
    parser.add_argument(
        "--at", choices=["start", "rebalance", "both"], default="start", help="recovered: before the freeze or after"
    )
    parser.add_argument("--unpacked", action="store_true", help="recovered: the table without its packed fields")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rb_logging.configure("gc-rows", fmt="console", level="WARNING")
    QuietTable.serialise = args.changelog
    builds = {
        "notifier": lambda n: notifier_handled(n, args.acked),
        "notifier-rows": notifier_rows,
        "routing": routing_rows,
        "intake": intake_rows,
        "inbox": inbox_rows,
        "stats": stats_rows,
        "notifier-other": notifier_other_rows,
        "ledger": ledger_rows,
        "recovered": lambda n: recovered_rows(n, args.at, not args.unpacked),
    }
    inspect = frozen if args.part == "recovered" else None
    out = measure(args.part, args.rows, builds[args.part], args.repeats, args.young, inspect)
    if args.json:
        print(json.dumps(out))
    else:
        gc_ms = out["full_gc"]
        print(
            f"{out['part']}: {out['rows']} rows, {out['tracked_per_row']} tracked objects a row "
            f"{out['by_type_per_row']}; full collection {gc_ms['ms']} ms (first {gc_ms['first_ms']} ms; "
            f"{gc_ms['all_ms']}), built in {out['build_s']} s ({out['build_gc_s']} s in {out['build_collections']} "
            f"collections by generation); walked containers {out['walked_containers']}; prepared in "
            f"{out['prepare_s']} s"
        )
        if "store_frozen" in out:
            frozen_rows = f"{out['rows_frozen']} of {out['rows_tracked']} tracked rows"
            print(f"recovered in {out['recovery_s']} s; frozen: the store dict {out['store_frozen']}, {frozen_rows}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
