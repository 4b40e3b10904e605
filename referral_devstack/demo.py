"""`make run`: broker, four workers, local agencies, the sample reports, where each went, the week's figures."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs
from referral_bus.settings import REPO_ROOT, KafkaSettings, config_file
from referral_devstack import broker
from referral_devstack.agencies import ack_token, local_agencies
from referral_devstack.inbox import INBOX_RECIPIENTS, inbox_env, use_inbox, write_inbox_secrets
from referral_devstack.lifecycle import Started, step
from referral_devstack.produce import produce
from referral_devstack.reading import read_topic
from referral_devstack.receivers import MailReceiver, WebhookReceiver, acknowledge
from referral_devstack.workers import Workers, free_port, temp_workdir
from referral_domain.directory import Directory, load_directory

EXAMPLES = REPO_ROOT / "examples" / "reports.jsonl"


def _expected(directory: Path, rules: Path, reports: list[dict[str, Any]]) -> dict[str, set[str]]:
    """report_id → recipients the rules choose, for the reports intake will accept."""
    from referral_bus.errors import RejectedMessage
    from referral_devstack.produce import prepare
    from services.intake.accept import case_id_for
    from services.intake.report import accepted_report
    from services.routing.rules import CaseView, load_rules

    ruleset = load_rules(directory, rules)
    out: dict[str, set[str]] = {}
    for raw in reports:
        try:
            report = accepted_report(prepare(raw), now_ms=int(time.time() * 1000), clock_skew_ms=300_000)[0]
        except RejectedMessage:
            continue
        case = {"case_id": case_id_for(report["agency_id"], report["report_id"]), "report": report}
        out[report["report_id"]] = {c.recipient.id for c in ruleset.decide(CaseView.from_case(case)).recipients}
    return out


CLOSING = frozenset({"ACKNOWLEDGED", "REJECTED", "COMPLETED"})


async def _acknowledge_one(receipts: list[Any], codec: Codec, port: int, secrets_dir: Path) -> str | None:
    """Play a police unit: acknowledge the first webhook delivery through the notifier's endpoint."""
    for rec in receipts:
        rc = codec.decode(rec.value, "DeliveryReceipt")
        if rc["status"] == "DELIVERED" and rc["channel"] == "webhook":
            token = ack_token(secrets_dir, rc["recipient_id"])
            status = await acknowledge(port, rc["referral_id"], token, "ACCEPTED")
            print(f"{rc['recipient_id']} acknowledged referral {rc['referral_id']}: HTTP {status}")
            return str(rc["referral_id"]) if status == 202 else None
    return None


def _has_national_peer(directory: Directory, recipient_id: str) -> bool:
    """True for a recipient acting in provinces only when another of its kind acts for a whole country."""
    r = directory.get(recipient_id)
    if r is None or any("-" not in j for j in r.jurisdictions):
        return False
    return any(x.kind == r.kind and any("-" not in j for j in x.jurisdictions) for x in directory.recipients.values())


async def _decline_one(
    receipts: list[Any], codec: Codec, skip: str | None, directory: Directory, timeout: float = 30.0
) -> str:
    """Play a recipient that declines a referral (as the inbox does) and say where the case went next.

    The decline is an Acknowledgement v2 on the acks topic keyed by case_id; routing re-routes the case
    (docs/lifecycle.md). Returns the line to print.
    """
    decoded = [codec.decode(rec.value, "DeliveryReceipt") for rec in receipts]
    webhook = [
        rc for rc in decoded if rc["status"] == "DELIVERED" and rc["channel"] == "webhook" and rc["referral_id"] != skip
    ]
    # a provincial unit whose kind has a national unit, so the re-route has somewhere to go
    chosen = next((rc for rc in webhook if _has_national_peer(directory, rc["recipient_id"])), None)
    chosen = chosen or next(iter(webhook), None)
    if chosen is None:
        return "no webhook referral to decline"
    rid, case_id, who = chosen["referral_id"], chosen["case_id"], chosen["recipient_id"]
    ack = {
        "referral_id": rid,
        "recipient_id": who,
        "outcome": "DECLINED",
        "reason": None,
        "acknowledged_at": int(time.time() * 1000),
        "reason_code": "not_our_jurisdiction",
        "action_id": str(uuid.uuid4()),
    }
    producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.name(topics.ACKS), codec.encode("Acknowledgement", ack), key=case_id.encode()
        )
    finally:
        await producer.stop()

    def answered(rs: list[Any]) -> dict[str, Any] | None:
        for r in rs:
            rc = codec.decode(r.value, "DeliveryReceipt")
            if rc["related_referral_id"] == rid and rc["status"] in ("REROUTED", "TRANSFERRED"):
                return rc
            if rc["referral_id"] == rid and rc["status"] == "UNCOVERED":
                return rc
        return None

    got = answered(
        await read_topic(topics.name(topics.RECEIPTS), until=lambda rs: answered(rs) is not None, timeout=timeout)
    )
    head = f"{who} declined referral {rid} (not_our_jurisdiction)"
    if got is None:
        return f"{head}; nobody else permitted for its kind (see docs/lifecycle.md)"
    if got["status"] == "UNCOVERED":
        return f"{head}; {got['detail']}"
    return f"{head} → re-routed by routing to {got['recipient_id']} (referral {got['referral_id']})"


def next_steps(namespace: str, work: Path, started: list[str], example_id: str) -> str:
    """What a newcomer can do while the bus stays up."""
    from referral_devstack.jaeger import DEFAULT_QUERY_PORT

    bus = ".venv/bin/referral-bus"
    jaeger = f"http://127.0.0.1:{DEFAULT_QUERY_PORT}"
    trace_env = "" if DEFAULT_QUERY_PORT == 16686 else f"REFERRAL_BUS_JAEGER_URL={jaeger} "
    stops = ", ".join(["the six workers", "the local agencies", *started])
    return f"""
The bus stays up: intake, routing, notifier, stats, inbox and ledger run in namespace {namespace} (worker logs: {work}).
In another terminal, from this directory:
  export REFERRAL_BUS_NAMESPACE={namespace}
  # your own reports, one JSON object per line (fields as in examples/reports.jsonl, new report_ids):
  {bus} produce my-reports.jsonl
  # referrals awaiting acknowledgement, P1 first:
  {bus} referrals pending
  # what became of a report, as its agency sees it (declines, re-routes, completion; docs/lifecycle.md):
  {bus} status {example_id}
  # one report's flow through the bus, from Jaeger (query API {jaeger}/api/services):
  {trace_env}{bus} trace {example_id}
Ctrl-C stops what make run started: {stops}.""".rstrip()


def with_inbox(work: Path, directory: Path, env: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Sample provincial units get the inbox channel (docs/inbox.md): its port, and each inbox user's password."""
    use_inbox(directory)
    passwords = write_inbox_secrets(directory, work / "secrets")
    port = free_port()
    env.update(inbox_env(directory, work / "secrets", port))
    return port, passwords


def ledger_env(secrets_dir: Path) -> dict[str, str]:
    """The ledger worker's settings: a development checkpoint key, new each run (docs/data-protection.md)."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    (secrets_dir / "ledger-checkpoint-key").write_text(uuid.uuid4().hex + uuid.uuid4().hex, encoding="utf-8")
    return {"LEDGER_SECRETS_DIR": str(secrets_dir)}


async def ledger_line(codec: Codec, case_id: str) -> str:
    """How many disclosures the ledger worker chained, and how to ask it about a case."""
    entries = await read_topic(topics.name(topics.LEDGER), until=lambda rs: False, timeout=3)
    kinds = [codec.decode(r.value, "LedgerEntry")["kind"] for r in entries]
    return (
        f"\nledger: {kinds.count('DISCLOSURE')} disclosure(s) chained on {topics.name(topics.LEDGER)} "
        f"(who received which fields: `referral-bus audit case {case_id}`; docs/data-protection.md)"
    )


def inbox_banner(port: int, passwords: dict[str, str]) -> str:
    """Where the inbox is and how the sample recipients sign in (development passwords, new each run)."""
    user = next(r for r in INBOX_RECIPIENTS if r in passwords)
    others = ", ".join(f"{r} / {pw}" for r, pw in sorted(passwords.items()) if r != user)
    return (
        f"\ninbox for recipients without IT: http://127.0.0.1:{port}/inbox/  (docs/inbox.md)\n"
        f"  sign in as {user} with password {passwords[user]}  (development password, new each run)\n"
        f"  other inbox users: {others}  (e-mail recipients open theirs from the signed link in each e-mail)"
    )


async def _until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM (both cancel the main task; see `main`)."""
    await asyncio.Event().wait()


async def run(
    examples: Path = EXAMPLES, timeout: float = 120.0, *, stay: bool = False, started: list[str] | None = None
) -> int:
    """Run the demo (broker already started); 0 when every expected referral was delivered.

    With `stay` the workers and local agencies keep running after the table until Ctrl-C or SIGTERM.
    """
    namespace = "demo-" + uuid.uuid4().hex[:6]
    os.environ["REFERRAL_BUS_NAMESPACE"] = namespace
    web, mail = WebhookReceiver(), MailReceiver()
    await web.start()
    mail.start()
    codec = Codec()
    with temp_workdir("demo-") as work:
        directory, env = local_agencies(work, web, mail)
        inbox_port, passwords = with_inbox(work, directory, env)
        workers = Workers(work, namespace, env, ports={"inbox": inbox_port})
        try:
            step(f"starting intake, routing, notifier, stats, inbox, ledger (namespace {namespace}; logs in {work})")
            workers.start_all()
            workers.start("stats", extra_env={"STATS_PUBLISH_INTERVAL_SECONDS": "1"})
            workers.start("inbox")
            workers.start("ledger", extra_env=ledger_env(work / "secrets"))
            workers.wait_ready()
            reports = [json.loads(x) for x in examples.read_text().splitlines() if x.strip()]
            expected = _expected(directory, config_file("rules.yaml"), reports)
            total = sum(len(v) for v in expected.values())
            print(f"local agencies: webhooks on {web.base_url}, SMTP on 127.0.0.1:{mail.port}, partner topics in Kafka")
            records = await produce(examples)
            print(f"produced {len(records)} sample reports; waiting for {total} referrals")

            def delivered(rs: list[Any]) -> bool:
                return sum(1 for r in rs if codec.decode(r.value, "DeliveryReceipt")["status"] == "DELIVERED") >= total

            receipts = await read_topic(topics.name(topics.RECEIPTS), until=delivered, timeout=timeout)
            acked = await _acknowledge_one(receipts, codec, workers.ports["notifier"], work / "secrets")
            if acked is not None:

                def closed(rs: list[Any]) -> bool:
                    return any(
                        (rc := codec.decode(r.value, "DeliveryReceipt"))["status"] == "ACKNOWLEDGED"
                        and rc["referral_id"] == acked
                        for r in rs
                    )

                receipts = await read_topic(
                    topics.name(topics.RECEIPTS), until=lambda rs: closed(rs) and delivered(rs), timeout=30
                )
            print(await _decline_one(receipts, codec, acked, load_directory(directory)), flush=True)
            receipts = await read_topic(topics.name(topics.RECEIPTS), until=lambda rs: False, timeout=3)
            dead = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: False, timeout=3)
            case_report: dict[str, str] = {}
            for report_id in expected:
                from services.intake.accept import case_id_for

                agency = next(r["agency_id"] for r in reports if r["report_id"] == report_id)
                case_report[case_id_for(agency, report_id)] = report_id
            rows = []
            seen: set[tuple[str, str]] = set()
            decoded = [codec.decode(rec.value, "DeliveryReceipt") for rec in receipts]
            closing = {rc["referral_id"]: rc["status"] for rc in decoded if rc["status"] in CLOSING}
            channels = {"webhook": 0, "email": 0, "kafka": 0}
            for rc in decoded:
                if rc["status"] != "DELIVERED":
                    continue
                channels[rc["channel"] or "webhook"] = channels.get(rc["channel"] or "webhook", 0) + 1
                seen.add((case_report.get(rc["case_id"], "?"), rc["recipient_id"]))
                rows.append(
                    (
                        case_report.get(rc["case_id"], "?"),
                        rc["case_id"][:13],
                        rc["recipient_id"],
                        rc["channel"] or "",
                        closing.get(rc["referral_id"], rc["status"]),
                        str(rc["latency_ms"] or ""),
                    )
                )
            rows.sort()
            header = ("report", "case", "recipient", "channel", "status", "ms")
            widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
            print()
            print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
            print("  ".join("-" * w for w in widths))
            for row in rows:
                print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
            for rec in dead:
                d = codec.decode(rec.value, "DeadLetter")
                print(f"\ndead letter from {d['stage']}: {d['reason']}: {d['message']}")
            missing = {(rep, rid) for rep, rids in expected.items() for rid in rids} - seen
            print(
                f"\n{len(seen)} of {total} expected referrals delivered"
                f" ({channels['webhook']} webhook, {channels['email']} e-mail, {channels['kafka']} partner topic);"
                f" {len(dead)} dead letter(s)"
            )
            print(
                f"{len(closing)} referral(s) closed by acknowledgement"
                + (
                    f" (referral {acked} acknowledged via POST /referrals/{{id}}/ack → ACKNOWLEDGED receipt)"
                    if acked
                    else ""
                )
                + f"; {len(seen) - len(closing)} awaiting acknowledgement (see `referral-bus referrals pending`)"
            )
            for rep, rid in sorted(missing):
                print(f"MISSING: {rep} → {rid}")
            code = 0 if not missing and (acked is None or closing.get(acked) == "ACKNOWLEDGED") else 1
            from referral_devstack.demo_stats import distinct_cases, weekly_table
            from services.stats.settings import StatsSettings

            print("\nweekly statistics (anonymised, suppressed as published on referrals.stats.v1):\n")
            cases = await distinct_cases(codec)
            print(await weekly_table(codec, cases=cases, k=StatsSettings().k), flush=True)
            print(await ledger_line(codec, next(iter(sorted(case_report)), "CASE_ID")), flush=True)
            print(inbox_banner(inbox_port, passwords), flush=True)
            if stay:
                print(next_steps(namespace, work, started or [], next(iter(sorted(expected)), "REPORT_ID")), flush=True)
                await _until_stopped()
            return code
        finally:
            workers.stop_all()
            await web.stop()
            mail.stop()


def _sigterm_as_ctrl_c(signum: int, frame: object) -> None:
    """SIGTERM takes the same path as Ctrl-C (asyncio cancels the main task; outside it, KeyboardInterrupt)."""
    signal.raise_signal(signal.SIGINT)


def main() -> None:
    """Entry point for `make run`; Ctrl-C or SIGTERM stops everything it started, and only that.

    With a terminal on stdin the bus stays up after the table; without one (CI, tests) it exits after it.
    """
    # Ctrl-C and SIGTERM must work even when started with SIGINT ignored (a background job, nohup)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c)
    started = Started()
    stay = sys.stdin.isatty()
    code = 1
    try:
        formatted = (broker.LocalBroker().state_dir / "data" / "meta.properties").exists()
        first = "" if formatted else " (first time: formats its storage, about 15 s)"
        step(f"local Kafka broker on 127.0.0.1{first}")
        print(started.broker(), flush=True)
        step("Jaeger for traces on 127.0.0.1 (built by `make jaeger`; starts in a few seconds)")
        print(started.jaeger(), flush=True)
        code = asyncio.run(run(stay=stay, started=started.names))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted; workers and local agencies stopped", flush=True)
        code = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave half the stack behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        started.stop_all()
    sys.exit(code)


if __name__ == "__main__":
    main()
