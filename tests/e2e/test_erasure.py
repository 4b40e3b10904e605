"""Erasure by crypto-shredding through the real broker and the five real workers.

With a key-encryption key set, intake seals a case's personal fields with the case's own key; routing,
the notifier and stats open them through the key table; the recipient receives them. Every topic and
changelog the case went through holds its personal values only sealed (the agency's intake topic holds
the report as sent: documented, retention is the tool there). After
`referral-bus erase` no copy opens any more, the ledger chains the erasure and still answers who
received which fields.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from referral_bus import topics
from referral_bus.casekeys import CaseKeys, sealed
from referral_bus.codec import Codec
from referral_bus.kafka import client_kwargs
from referral_bus.settings import REPO_ROOT, KafkaSettings
from referral_devstack.inbox import inbox_env, use_inbox, write_inbox_secrets
from referral_devstack.reading import read_to_end
from referral_devstack.workers import Workers, free_port
from services.intake.accept import case_id_for
from tests.support.agencies import receiving_agencies
from tests.support.inbox import listed, signed_in
from tests.support.lanes import lane_names
from tests.support.polling import wait_for
from tests.support.reports import PII, key_of, valid_report

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

KEK = "test-case-key-kek"
INBOX_USER = "vn-police-ha-noi"
MARKERS = [v for v in PII.values() if len(v) > 8]
CODEC = Codec()


async def keys_as_read(case_id: str) -> CaseKeys:
    """A fresh follower of the key table, caught up with `case_id`'s latest record."""
    import hashlib

    keys = CaseKeys(hashlib.sha256(KEK.encode()).digest(), wait_seconds=20)
    task = asyncio.ensure_future(keys.run())
    try:
        assert await wait_for(lambda: case_id in keys._keys, 30)
        await asyncio.sleep(1)  # a tombstone behind the key record arrives in the same fetch or the next
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return keys


async def sealed_copies(namespace: str, case_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every copy of the case on the case and referral topics and in the notifier's state changelog."""
    kafka = KafkaSettings()
    out: dict[str, list[dict[str, Any]]] = {"cases": [], "referrals": [], "referral_state": []}
    for r in await read_to_end(kafka, topics.name(topics.CASES)):
        out["cases"].append(CODEC.decode(r.value, "Case"))
    for lane in lane_names():
        for r in await read_to_end(kafka, lane):
            out["referrals"].append(CODEC.decode(r.value, "Referral")["case"])
    for r in await read_to_end(kafka, f"{namespace}.referral-bus-notifier-referral_state-changelog"):
        if r.value and (st := json.loads(r.value)) and st.get("referral"):
            out["referral_state"].append(CODEC.decode(base64.b64decode(st["referral"]), "Referral")["case"])
    return {k: [c for c in v if c["case_id"] == case_id] for k, v in out.items()}


def inbox_pages(port: int, recipient_id: str, password: str) -> str:
    """Every referral page the inbox shows `recipient_id`, signed in like a browser (each view is disclosed)."""
    with signed_in(port, recipient_id, password) as client:
        return "".join(client.get(f"/inbox/referrals/{rid}").text for rid in listed(client))


def leaked(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [m for m in MARKERS if m.encode() in data]


async def test_a_case_is_readable_before_and_unreadable_after_erasure(kafka: str, namespace: str) -> None:
    async with receiving_agencies("erase-") as (web, _, work, directory, env):
        use_inbox(directory, (INBOX_USER,))  # its referral goes to the inbox: sealed there too
        passwords = write_inbox_secrets(directory, work / "inbox-secrets", iterations=1_000)
        inbox_port = free_port()
        env |= inbox_env(directory, work / "inbox-secrets", inbox_port)
        env |= {
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "REFERRAL_BUS_SECRET_CASE_KEY_KEK": KEK,
            "REFERRAL_BUS_SECRET_LEDGER_CHECKPOINT_KEY": "test-ledger-key",
        }
        workers = Workers(work, namespace, env, ports={"inbox": inbox_port})
        try:
            for s in ("intake", "routing", "notifier", "stats", "ledger", "inbox"):
                workers.start(s)
            workers.wait_ready(timeout=180)
            report = valid_report()
            case_id = case_id_for(report["agency_id"], report["report_id"])
            producer = AIOKafkaProducer(**client_kwargs(KafkaSettings()), acks="all")
            await producer.start()
            # a second agency reports the same content once the case is out (and its content claimed):
            # linked to the case, resealed under the case's own key
            linked = valid_report(agency_id="ngo-safe-online")
            try:
                await producer.send_and_wait(
                    topics.name(topics.INTAKE), CODEC.encode("CaseReport", report), key=key_of(report)
                )
                assert await wait_for(lambda: any(d.json()["case_id"] == case_id for d in web.deliveries), 120), (
                    workers.tail("notifier") + workers.tail("intake")
                )
                await producer.send_and_wait(
                    topics.name(topics.INTAKE), CODEC.encode("CaseReport", linked), key=key_of(linked)
                )
            finally:
                await producer.stop()
            # the recipients opened the case: some received personal fields their profile allows
            received = b"".join(d.body for d in web.deliveries)
            assert leaked(received), "no recipient received any personal field"
            # the inbox user sees the case opened on its page (the inbox holds it sealed)
            password = passwords[INBOX_USER]
            shown = await wait_for(lambda: bool(leaked(inbox_pages(inbox_port, INBOX_USER, password))), 60)
            assert shown, workers.tail("inbox") + workers.tail("notifier")

            # before: every copy is sealed, and opens with the case's key
            async def both_cases() -> bool:
                return len((await sealed_copies(namespace, case_id))["cases"]) >= 2

            for _ in range(60):
                if await both_cases():
                    break
                await asyncio.sleep(0.5)
            copies = await sealed_copies(namespace, case_id)
            assert all(copies.values()), {k: len(v) for k, v in copies.items()}
            assert any(c["is_update"] for c in copies["cases"]), workers.tail("intake")
            keys = await keys_as_read(case_id)
            for where, found in copies.items():
                for c in found:
                    assert sealed(c) and not leaked(json.dumps(c)), where
                    assert leaked(json.dumps(await keys.open_case(c))), where
            # no topic or changelog of the namespace holds a personal value in clear but the two documented ones
            admin = AIOKafkaAdminClient(**client_kwargs(KafkaSettings()))
            await admin.start()
            try:
                names = [t for t in await admin.list_topics() if t.startswith(namespace + ".")]
            finally:
                await admin.close()
            in_clear = {topics.name(topics.INTAKE)}  # the agency's bytes as sent (retention is the tool there)
            for name in sorted(set(names) - in_clear):
                raw = b"".join((r.value or b"") for r in await read_to_end(KafkaSettings(), name))
                assert not leaked(raw), f"{name} holds personal values in clear"

            erase_env = {**os.environ, **env, "REFERRAL_BUS_NAMESPACE": namespace}
            done = subprocess.run(
                [sys.executable, "-m", "referral_cli.main", "erase", case_id, "--reason", "withdrawal"],
                env=erase_env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0 and f"erased {case_id}" in done.stdout, done.stdout + done.stderr

            # after: no copy opens; the case's non-personal facts are still there
            after = await keys_as_read(case_id)
            assert after._keys[case_id] is None
            for where, found in (await sealed_copies(namespace, case_id)).items():
                for c in found:
                    opened = await after.open_case(c)
                    assert not leaked(json.dumps(opened)), where
                    assert opened["report"]["category"] == report["category"], where
                    assert opened["report"]["victim"]["name"] is None
            # the inbox page no longer shows them either (its worker follows the key table)
            assert await wait_for(lambda: not leaked(inbox_pages(inbox_port, INBOX_USER, password)), 30)
            assert case_id in inbox_pages(inbox_port, INBOX_USER, password)  # the referral itself is still there

            # the ledger: the erasure chained after the disclosures, which remain
            async def erasure_in_ledger() -> bool:
                entries = await read_to_end(KafkaSettings(), topics.name(topics.LEDGER))
                return any(CODEC.decode(r.value, "LedgerEntry")["kind"] == "ERASURE" for r in entries)

            for _ in range(60):
                if await erasure_in_ledger():
                    break
                await asyncio.sleep(0.5)
            audit = subprocess.run(
                [sys.executable, "-m", "referral_cli.main", "audit", "case", case_id],
                env=erase_env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert "ERASED" in audit.stdout and " via webhook" in audit.stdout, audit.stdout + audit.stderr
            assert f"{INBOX_USER}  via inbox (view)" in audit.stdout, audit.stdout  # the views are disclosures too
            verify = subprocess.run(
                [sys.executable, "-m", "referral_cli.main", "audit", "verify"],
                env=erase_env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert verify.returncode == 0, verify.stdout
        finally:
            workers.stop_all()
