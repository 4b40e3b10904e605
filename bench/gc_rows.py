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
- `routing`: `routed` rows (`CaseState.to_json`); `intake`: `content`, `dedup` and `pending` rows as the
  correlator and the dedup write them; both through the kernel's `Table`.

    python -m bench.gc_rows [--part notifier --rows 20000 --acked 0.5] [--repeats 5] [--json]

Prints, per part: tracked objects per row by type (after a full collection, so only what stays tracked),
and a full `gc.collect()`'s ms with the rows held (median of `--repeats`, each after the previous one).
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

PARTITIONS = 12
DAY_MS = 86_400_000


class QuietTable(Table):
    """The kernel's table with its changelog sends dropped and each key's partition from its hash (no Faust event)."""

    def send_changelog(
        self, partition: Any, key: Any, value: Any, key_serializer: Any = None, value_serializer: Any = None
    ) -> Any:
        return None

    def partition_for_key(self, key: Any) -> int:
        return hash(key) % PARTITIONS


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
    app = faust.App(f"gc-rows-{uuid.uuid4().hex[:8]}", store="memory://")
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


def measure(part: str, rows: int, prepare: Any, repeats: int) -> dict[str, Any]:
    """Rows written by the writer `prepare(rows)` returns (it returns what holds them): tracked objects a row, GC ms."""
    write = prepare(rows)  # the worker's own objects and the rows' inputs: before the freeze
    gc.collect()
    gc.freeze()  # as a worker does once ready (shell.py): start-up objects are not walked
    before = tracked_by_type()
    t = time.perf_counter()
    held = write()
    del write
    built_s = time.perf_counter() - t
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
    }
    del held
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

    app = faust.App(f"gc-routing-{uuid.uuid4().hex[:8]}", store="memory://")
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

    app = faust.App(f"gc-intake-{uuid.uuid4().hex[:8]}", store="memory://")
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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_rows", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["notifier", "notifier-rows", "routing", "intake"], default="notifier")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--acked", type=float, default=0.0, help="notifier: fraction of referrals acknowledged")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rb_logging.configure("gc-rows", fmt="console", level="WARNING")
    builds = {
        "notifier": lambda n: notifier_handled(n, args.acked),
        "notifier-rows": notifier_rows,
        "routing": routing_rows,
        "intake": intake_rows,
    }
    out = measure(args.part, args.rows, builds[args.part], args.repeats)
    if args.json:
        print(json.dumps(out))
    else:
        gc_ms = out["full_gc"]
        print(
            f"{out['part']}: {out['rows']} rows, {out['tracked_per_row']} tracked objects a row "
            f"{out['by_type_per_row']}; full collection {gc_ms['ms']} ms (first {gc_ms['first_ms']} ms; "
            f"{gc_ms['all_ms']}), built in {out['build_s']} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
