"""Each view of a referral's page in the inbox is a disclosure: a real inbox and ledger worker on the real
broker, a recipient signing in like a browser; `referral-bus audit case` then lists the views."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.settings import REPO_ROOT
from referral_devstack.reading import read_topic
from tests.support.inbox import document, running_inbox, signed_in
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka]
POLICE, OTHER = "vn-police-ha-noi", "vn-police-hue"
SECRET = "VICTIM-NAME-MARKER"
CASE = "case-ref-v1"


def _pages(port: int, rid: str, password: str, path: str, times: int) -> list[int]:
    """Sign in as `rid`, then GET `path` `times` times: the statuses."""
    with signed_in(port, rid, password) as client:
        return [client.get(path).status_code for _ in range(times)]


async def test_each_view_is_chained_and_audit_case_lists_it(kafka: str, namespace: str) -> None:
    users = (POLICE, OTHER)
    async with running_inbox(namespace, kafka, users, services=("inbox", "ledger"), prefix="inbox-view-") as stack:
        port, passwords = stack.port, stack.passwords
        view = document("ref-v1", POLICE, report={"category": "CSAM", "victim": {"name": SECRET}})
        await stack.producer.send_and_wait(topics.name(topics.INBOX), json.dumps(view).encode(), key=CASE.encode())
        page = "/inbox/referrals/ref-v1"
        assert await wait_for(lambda: _pages(port, POLICE, passwords[POLICE], page, 1) == [200], 30)
        assert _pages(port, POLICE, passwords[POLICE], page, 1) == [200]
        assert _pages(port, OTHER, passwords[OTHER], page, 2) == [403, 403]  # refused: nothing disclosed

        records = await read_topic(topics.name(topics.DISCLOSURES), until=lambda rs: len(rs) >= 2, timeout=60)
        facts = [Codec().decode(r.value, "Disclosure") for r in records]
        assert {(f["recipient_id"], f["channel"], f["purpose"]) for f in facts} == {(POLICE, "inbox", "view")}
        assert all(r.key == CASE.encode() for r in records)
        assert len({f["disclosure_id"] for f in facts}) == len(facts) >= 2  # each view its own record
        assert "case.report.victim.name" in facts[0]["fields"]
        assert all(SECRET.encode() not in r.value for r in records)  # paths, never values

        cli_env = {**os.environ, "REFERRAL_BUS_NAMESPACE": namespace, "KAFKA_BOOTSTRAP_SERVERS": kafka}

        def audited() -> str:
            out = subprocess.run(
                [sys.executable, "-m", "referral_cli.main", "audit", "case", CASE],
                env=cli_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            return out.stdout

        assert await wait_for(lambda: audited().count(f"{POLICE}  via inbox (view)") >= 2, 60), audited()
        assert SECRET not in audited()
