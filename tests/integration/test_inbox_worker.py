"""The inbox worker alone against the real broker: hostile input is dead-lettered with its bytes and never
stops the partition, a spoofed acknowledgement is refused, the read model survives a restart (the list, and a
referral's page with its document and history), and a chunked form body is capped like one with Content-Length."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.reading import read_topic
from services.inbox.views import referral_path
from tests.support.inbox import document, listed, running_inbox, signed_in
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka]
POLICE, OTHER = "vn-police-ha-noi", "vn-police-hue"
CODEC = Codec()
REPORT = {"category": "CSAM"}


def _listed(port: int, password: str) -> list[str]:
    """The referral ids the police unit's list page shows (signing in like a browser)."""
    with signed_in(port, POLICE, password) as client:
        return listed(client)


def _strip_csrf(page: str) -> str:
    """A page without its session's CSRF token (each sign-in has its own)."""
    return re.sub(r'name=csrf value="[^"]+"', "", page)


def _page(port: int, password: str) -> str:
    """The police unit's page of ref-1: its document and history (signing in like a browser)."""
    with signed_in(port, POLICE, password) as client:
        return client.get(referral_path("ref-1")).text


async def test_hostile_input_spoofing_and_restart(kafka: str, namespace: str) -> None:
    async with running_inbox(namespace, kafka, (POLICE, OTHER), prefix="inbox-worker-") as stack:
        workers, port, passwords, producer = stack.workers, stack.port, stack.passwords, stack.producer
        inbox, receipts = topics.name(topics.INBOX), topics.name(topics.RECEIPTS)
        garbage = b"\xff not json"
        foreign = json.dumps(document("ref-foreign", "vn-police-cybercrime", report=REPORT)).encode()  # no inbox user
        mine = json.dumps(document("ref-1", POLICE, report=REPORT)).encode()
        await producer.send_and_wait(inbox, garbage, key=b"case-x")
        await producer.send_and_wait(inbox, foreign, key=b"case-ref-foreign")
        await producer.send_and_wait(inbox, mine, key=b"case-ref-1")
        spoof = {
            "referral_id": "ref-1",
            "recipient_id": POLICE,
            "outcome": "ACCEPTED",
            "reason": None,
            "acknowledged_at": 1,
        }  # on the other unit's topic: refused, not recorded
        await producer.send_and_wait(
            topics.name(topics.acks_topic(OTHER)), CODEC.encode("Acknowledgement", spoof), key=b"case-ref-1"
        )
        receipt = {
            "receipt_id": "rc-1",
            "referral_id": "ref-1",
            "case_id": "case-ref-1",
            "recipient_id": POLICE,
            "status": "ACKNOWLEDGED",
            "at": 2,
            "channel": None,
            "attempt": 0,
            "latency_ms": None,
            "detail": None,
            "lifecycle_state": "ACCEPTED",
        }
        await producer.send_and_wait(receipts, CODEC.encode("DeliveryReceipt", receipt), key=b"case-ref-1")

        dead = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 3, timeout=60)
        letters = [CODEC.decode(r.value, "DeadLetter") for r in dead]
        by_reason = {d["reason"]: d for d in letters}
        assert set(by_reason) == {"invalid_field", "recipient_mismatch"}, [d["reason"] for d in letters]
        assert {d["original_value"] for d in letters if d["reason"] == "invalid_field"} == {garbage, foreign}
        assert all(d["stage"] == "inbox" for d in letters)
        assert await wait_for(lambda: _listed(port, passwords[POLICE]) == ["ref-1"], 30)
        # the receipt again, now that the document is in (a receipt of a referral not in the inbox is skipped)
        await producer.send_and_wait(receipts, CODEC.encode("DeliveryReceipt", receipt), key=b"case-ref-1")
        assert await wait_for(lambda: "ACKNOWLEDGED" in _page(port, passwords[POLICE]), 30)  # in its history
        before = _page(port, passwords[POLICE])
        assert "CSAM" in before  # the document's case

        workers.stop("inbox")
        workers.start("inbox")
        workers.wait_ready(timeout=120)
        assert await wait_for(lambda: _listed(port, passwords[POLICE]) == ["ref-1"], 60)
        assert _strip_csrf(_page(port, passwords[POLICE])) == _strip_csrf(before)  # document and history read back
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            page = client.get("/inbox/signin")
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert page.headers["X-Frame-Options"] == "DENY"
            assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=Strict" in page.headers["set-cookie"]
            # a chunked POST says no Content-Length: the worker still reads no more than the cap + 1 bytes
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            chunked = client.post("/inbox/signin", content=iter([b"csrf=", b"x" * 9000]), headers=form)
            assert "content-length" not in chunked.request.headers
            assert chunked.status_code == 413, chunked.status_code
            assert chunked.text == "form larger than 8192 bytes (INBOX_MAX_FORM_BYTES)"
