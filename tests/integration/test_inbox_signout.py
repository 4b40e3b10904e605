"""Sign-out revokes the session on the server, through the real broker and a real inbox worker: a copied
session cookie is refused at once after its owner signs out, still refused after the worker restarts
(the changelogged `signouts` table), while another session of the same unit stays signed in; a hostile
sign-out event is dead-lettered with its bytes and the partition moves on."""

from __future__ import annotations

import re

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topic_catalog, topics
from referral_bus.codec import Codec
from referral_devstack.reading import read_topic
from referral_devstack.workers import temp_workdir
from services.inbox.sessions import SESSION_COOKIE
from tests.support.inbox import inbox_workers, signed_in
from tests.support.polling import wait_for

pytestmark = [pytest.mark.kafka]
POLICE = "vn-police-ha-noi"


def _signed_in_page(port: int, cookie: str) -> bool:
    """Whether the list page answers this session cookie (a copy in a client of its own) as signed in."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, cookies={SESSION_COOKIE: cookie}) as c:
        return c.get("/inbox/", follow_redirects=False).status_code == 200


async def test_a_copied_cookie_fails_after_sign_out_and_after_a_restart(kafka: str, namespace: str) -> None:
    with temp_workdir("inbox-signout-") as work:
        workers, port, passwords = inbox_workers(work, namespace, kafka, (POLICE,))
        try:
            workers.start("inbox")
            workers.wait_ready(timeout=120)
            with signed_in(port, POLICE, passwords[POLICE]) as other:  # the unit's second session
                with signed_in(port, POLICE, passwords[POLICE]) as client:
                    copied = client.cookies[SESSION_COOKIE]
                    assert _signed_in_page(port, copied)
                    page = client.get("/inbox/").text
                    csrf = re.search(r'action="/inbox/signout".*?name=csrf value="([^"]+)"', page, re.S)
                    assert csrf, page[:2000]
                    out = client.post("/inbox/signout", data={"csrf": csrf.group(1)}, follow_redirects=False)
                    assert out.status_code == 303
                assert not _signed_in_page(port, copied)  # at once, on this worker
                assert other.get("/inbox/", follow_redirects=False).status_code == 200
                second = other.cookies[SESSION_COOKIE]

            producer = AIOKafkaProducer(bootstrap_servers=kafka)
            await producer.start()
            try:
                await producer.send_and_wait(topics.name(topic_catalog.INBOX_SIGNOUTS), b"\xff hostile", key=b"x")
            finally:
                await producer.stop()
            dead = await read_topic(topics.name(topics.DEADLETTER), until=lambda rs: len(rs) >= 1, timeout=60)
            letter = Codec().decode(dead[0].value, "DeadLetter")
            assert letter["reason"] == "invalid_field" and letter["original_value"] == b"\xff hostile"

            workers.stop("inbox")
            workers.start("inbox")
            workers.wait_ready(timeout=120)
            assert await wait_for(lambda: _signed_in_page(port, second), 60)  # the table is back
            assert not _signed_in_page(port, copied)  # the sign-out survived the restart
        finally:
            workers.stop_all()
