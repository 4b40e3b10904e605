"""Disclosures and the ledger through the real broker: a real notifier and ledger worker, real receivers.

One case goes to three recipients by three channels and, unacknowledged, is escalated to a fourth;
each delivery leaves one Disclosure (field paths and the digest of the exact bytes sent, never a
value) chained into the ledger; `audit verify` finds it intact, also after the ledger worker is killed
and restarted, and finds a tampered copy not intact; `audit case` and `audit recipient` answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from referral_bus import topics
from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_cli.commands.audit import read_anchors, read_ledger
from referral_devstack.reading import read_to_end
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from tests.support import notifier as nt
from tests.support.polling import fetch_until

pytestmark = [pytest.mark.kafka]

KEY = "ledger-test-key-" + "k" * 16


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`referral-bus ARGS` as a user runs it, in this test's namespace."""
    return subprocess.run(
        [sys.executable, "-m", "referral_cli.main", *args],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def disclosures_in_ledger(
    referral_ids: set[str], timeout: float = 90
) -> list[tuple[int, int | None, dict[str, Any]]]:
    """The ledger once it holds a disclosure of each referral and one escalation (polling until a deadline)."""

    def complete(entries: list[tuple[int, int | None, dict[str, Any]]]) -> bool:
        facts = [json.loads(e["fact"]) for _, _, e in entries if e["kind"] == "DISCLOSURE"]
        return referral_ids <= {f["referral_id"] for f in facts} and any(f["purpose"] == "escalation" for f in facts)

    return await fetch_until(lambda: read_ledger(KafkaSettings(), timeout=30), complete, timeout)


async def digests_chained(expected: set[tuple[str, str]], timeout: float = 60) -> set[tuple[str, str]]:
    """(recipient, payload digest) of every disclosure in the ledger, once it holds `expected` (polling)."""

    async def chained() -> set[tuple[str, str]]:
        entries = await read_ledger(KafkaSettings(), timeout=30)
        facts = [json.loads(e["fact"]) for _, _, e in entries if e["kind"] == "DISCLOSURE"]
        return {(f["recipient_id"], f["payload_digest"]) for f in facts}

    return await fetch_until(chained, lambda found: expected <= found, timeout)


async def test_every_delivery_is_a_chained_disclosure_and_audit_answers(
    kafka: str, namespace: str, mail: MailReceiver
) -> None:
    web = WebhookReceiver()
    recipients = [
        nt.recipient("hook", nt.webhook(web, "hook"), escalation_target="duty"),
        nt.recipient("duty", nt.webhook(web, "duty"), "full"),
        nt.recipient(
            "mail-desk", {"type": "email", "to": ["desk@example.invalid"], "smtp_port": mail.port, "tls": "none"}
        ),
        nt.recipient("partner-x", {"type": "kafka"}, "convention_minimal"),
    ]
    async with nt.notifier_stack(web, namespace, kafka, recipients, {}, prefix="ledger-") as stack:
        (stack.secrets / "ledger-checkpoint-key").write_text(KEY, encoding="utf-8")
        ledger_env = {"LEDGER_SECRETS_DIR": str(stack.secrets), "LEDGER_CHECKPOINT_EVERY": "2"}
        stack.start()
        stack.workers.start("ledger", extra_env=ledger_env)
        stack.workers.wait_ready(timeout=120, names=["ledger"])

        first = nt.referral("hook", sla=2, priority="P1")
        case, case_id = first["case"], first["case_id"]
        same = {"case": case, "case_id": case_id, "decision_id": first["decision_id"]}
        refs = [first, nt.referral("mail-desk", **same), nt.referral("partner-x", **same)]
        await nt.send_referrals(refs)
        # three deliveries and the escalation to duty (repeated every SLA period while nobody acknowledges)
        entries = await disclosures_in_ledger({r["referral_id"] for r in refs})
        found = [json.loads(e["fact"]) for _, _, e in entries if e["kind"] == "DISCLOSURE"]
        assert len({d["disclosure_id"] for d in found}) == len(found)  # each once
        assert {(d["recipient_id"], d["channel"], d["purpose"]) for d in found} == {
            ("hook", "webhook", "referral"),
            ("mail-desk", "email", "referral"),
            ("partner-x", "kafka", "referral"),
            ("duty", "webhook", "escalation"),
        }, stack.workers.tail("ledger", 40)
        by = {d["recipient_id"]: d for d in found}
        # paths, never values: no marker of any personal value anywhere in the ledger
        raw = b"".join(r.value for r in await read_to_end(KafkaSettings(), topics.name(topics.LEDGER)))
        assert not [v for v in nt.PII.values() if v.encode() in raw]
        assert "case.report.victim.contact" in by["hook"]["fields"]
        assert "case.report.victim.name" not in by["hook"]["fields"]
        assert "case.report.victim.name" in by["duty"]["fields"]  # full profile
        assert "case.report.victim.contact" not in by["partner-x"]["fields"]
        assert {d["data_profile"] for d in found} == {"need_to_know", "full", "convention_minimal"}
        assert all(len(d["profile_version"]) == 16 and d["safeguards_version"] for d in found)
        # the digest is of the exact bytes each recipient received (each SLA period's escalation is its own)
        sent = {(d.recipient_id, "sha256:" + hashlib.sha256(d.body).hexdigest()) for d in list(web.deliveries)}
        assert sent <= await digests_chained(sent)
        partner = await read_to_end(KafkaSettings(), topics.name(topics.partner_topic("partner-x")))
        assert by["partner-x"]["payload_digest"] == "sha256:" + hashlib.sha256(partner[0].value).hexdigest()

        env = {"REFERRAL_BUS_NAMESPACE": namespace, "KAFKA_BOOTSTRAP_SERVERS": kafka, **ledger_env}
        verified = cli("audit", "verify", env=env)
        assert verified.returncode == 0 and "ledger intact" in verified.stdout, verified.stdout + verified.stderr
        assert "checkpoint signatures not checked" not in verified.stdout
        answer = cli("audit", "case", case_id, env=env)
        assert answer.returncode == 0, answer.stderr
        for rid, channel in (("hook", "webhook"), ("mail-desk", "email"), ("partner-x", "kafka"), ("duty", "webhook")):
            assert f"{rid}  via {channel}" in answer.stdout, answer.stdout
        assert int(re.findall(r"(\d+) disclosure\(s\)", answer.stdout)[0]) >= 4
        report = case["report"]
        by_report = cli("audit", "case", "--report", f"{report['agency_id']}/{report['report_id']}", env=env)
        for rid in ("hook", "mail-desk", "partner-x", "duty"):
            assert f"{rid}  via" in by_report.stdout, by_report.stdout + by_report.stderr
        today = time.strftime("%Y-%m-%d", time.gmtime())
        to_partner = cli("audit", "recipient", "partner-x", "--from", today, env=env)
        assert "1 disclosure(s) to partner-x" in to_partner.stdout, to_partner.stdout + to_partner.stderr
        before = cli("audit", "recipient", "partner-x", "--to", today, env=env)
        assert "0 disclosure(s) to partner-x" in before.stdout

        # a kill -9 of the ledger worker: the restarted one continues the same chain (no fork)
        stack.workers.stop("ledger", sig=signal.SIGKILL)
        more = nt.referral("mail-desk")
        await nt.send_referrals([more])
        stack.workers.start("ledger", extra_env=ledger_env)
        stack.workers.wait_ready(timeout=120, names=["ledger"])
        await disclosures_in_ledger({more["referral_id"]})
        again = cli("audit", "verify", env=env)
        assert again.returncode == 0 and "ledger intact" in again.stdout, again.stdout + stack.workers.tail("ledger")

        # a copy of the ledger with one entry edited and one deleted: both found, with their positions
        copy_topic = f"{namespace}.ledger-copy"
        await ensure_topics(KafkaSettings(), [copy_topic])
        records = sorted(
            await read_to_end(KafkaSettings(), topics.name(topics.LEDGER)), key=lambda r: (r.partition, r.offset)
        )
        busiest = max({r.partition for r in records}, key=lambda p: sum(1 for r in records if r.partition == p))
        mine = [r for r in records if r.partition == busiest]
        assert len(mine) >= 3
        edited_at, deleted_at = 0, 2
        from aiokafka import AIOKafkaProducer

        from referral_bus.codec import Codec

        codec = Codec()
        producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()), acks="all")
        await producer.start()
        try:
            for i, r in enumerate(mine):
                value = r.value
                if i == edited_at:
                    e = codec.decode(value, "LedgerEntry")
                    e["fact"] = e["fact"].replace('"recipient_id":"', '"recipient_id":"someone-else-')
                    value = codec.encode("LedgerEntry", e)
                if i != deleted_at:
                    await producer.send_and_wait(copy_topic, value=value, key=r.key, partition=busiest)
        finally:
            await producer.stop()
        # the anchor: the worker's head table agrees with the ledger's last entries; a saved one catches a cut tail
        anchors = await read_anchors(KafkaSettings())
        digests = {(p, e["seq"]): e["digest"] for p, _, e in await read_ledger(KafkaSettings())}
        assert anchors and all(digests[(p, h.seq)] == h.digest for p, h in anchors.items()), anchors
        # a saved anchor of a (static) full copy catches the same copy with its tail cut
        now = sorted(
            await read_to_end(KafkaSettings(), topics.name(topics.LEDGER)), key=lambda r: (r.partition, r.offset)
        )
        last_of_busiest = max(r.offset for r in now if r.partition == busiest)
        full_topic, cut_topic = f"{namespace}.ledger-full", f"{namespace}.ledger-cut"
        await ensure_topics(KafkaSettings(), [full_topic, cut_topic])
        producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()), acks="all")
        await producer.start()
        try:
            for r in now:
                await producer.send_and_wait(full_topic, value=r.value, key=r.key, partition=r.partition)
                if (r.partition, r.offset) != (busiest, last_of_busiest):
                    await producer.send_and_wait(cut_topic, value=r.value, key=r.key, partition=r.partition)
        finally:
            await producer.stop()
        saved = stack.work / "anchor.json"
        assert cli("audit", "verify", "--topic", full_topic, "--save-anchor", str(saved), env=env).returncode == 0
        cut = cli("audit", "verify", "--topic", cut_topic, "--anchor", str(saved), env=env)
        assert cut.returncode == 1, cut.stdout
        truncated = [line.strip() for line in cut.stdout.splitlines() if ": truncated:" in line]
        assert len(truncated) == 1 and truncated[0].startswith(f"partition {busiest} offset -"), cut.stdout
        tampered = cli("audit", "verify", "--topic", copy_topic, env=env)
        assert tampered.returncode == 1, tampered.stdout
        assert f"partition {busiest} offset 0 seq 0: edited" in tampered.stdout, tampered.stdout
        assert f"partition {busiest} offset 2 seq 3: gap" in tampered.stdout, tampered.stdout
