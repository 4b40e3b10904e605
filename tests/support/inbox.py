"""The inbox in tests: referral documents and a read model in memory, a worker stack with inbox users, and a
browser-like client signed in as one of them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from referral_bus.settings import config_file
from referral_devstack.inbox import use_inbox, write_inbox_secrets
from referral_devstack.workers import Workers, free_port, temp_workdir
from services.inbox.model import from_document
from services.inbox.passwords import hash_password
from services.inbox.sessions import PRESESSION_COOKIE, SESSION_COOKIE
from services.inbox.web import Inbox, Request

NOW_MS = 1_800_000_000_000
LINK_KEY = "link-key-" + "x" * 20
PASSWORDS = {"vn-police-ha-noi": "police-pw", "vn-child-protection-ha-noi": "child-pw"}
HASHES = {rid: hash_password(pw, iterations=1_000) for rid, pw in PASSWORDS.items()}


def document(
    referral_id: str, recipient_id: str, *, priority: str = "P2", created_at: int = NOW_MS, **case: Any
) -> dict[str, Any]:
    """A referral document as the notifier's inbox channel produces it (`case` entries replace the case's)."""
    return {
        "document": "referral-bus.referral/v1",
        "referral_id": referral_id,
        "case_id": f"case-{referral_id}",
        "recipient_id": recipient_id,
        "priority": priority,
        "ack_sla_seconds": 900,
        "preservation_request": False,
        "reason": "rule",
        "rule_ids": ["r1"],
        "created_at": created_at,
        "data_profile": "full",
        "case": {"case_id": f"case-{referral_id}", "report": {"narrative": "n"}, **case},
    }


class Store(dict[str, Mapping[str, Any]]):
    """The read model as a dict (the Faust table has the same get/values)."""

    def add(self, doc: dict[str, Any]) -> None:
        self[doc["referral_id"]] = from_document(doc, None)

    def values(self) -> Iterable[Mapping[str, Any]]:  # type: ignore[override]  # a list, not a dict view: the store protocol asks only for an iterable
        return list(super().values())


def inbox_workers(work: Path, namespace: str, kafka: str, users: Sequence[str]) -> tuple[Workers, int, dict[str, str]]:
    """Workers (none started) whose directory gives `users` the inbox channel: the inbox's port, the passwords."""
    directory = work / "recipients.yaml"
    directory.write_text(config_file("recipients.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    use_inbox(directory, users)
    passwords = write_inbox_secrets(directory, work / "secrets", iterations=1_000)
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "INBOX_DIRECTORY_PATH": str(directory),
        "INBOX_SECRETS_DIR": str(work / "secrets"),
        "INBOX_DEV_INSECURE_COOKIES": "true",
    }
    return Workers(work, namespace, env, ports={"inbox": port}), port, passwords


@contextlib.contextmanager
def signed_in(port: int, recipient_id: str, password: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the inbox on `port` as `recipient_id`, like a browser (CSRF token, cookies)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        csrf = re.search(r'name=csrf value="([^"]+)"', client.get("/inbox/signin").text)
        assert csrf
        client.post("/inbox/signin", data={"csrf": csrf.group(1), "recipient_id": recipient_id, "password": password})
        yield client


def listed(client: httpx.Client) -> list[str]:
    """The referral ids the signed-in recipient's list page shows, most urgent first."""
    return re.findall(r'data-id="([^"]+)"', client.get("/inbox/").text)


@dataclass
class InboxStack:
    """Started inbox workers, the inbox's port, each user's password, and a started producer."""

    workers: Workers
    port: int
    passwords: dict[str, str]
    producer: AIOKafkaProducer


@contextlib.asynccontextmanager
async def running_inbox(
    namespace: str, kafka: str, users: Sequence[str], *, services: Sequence[str] = ("inbox",), prefix: str = "inbox-"
) -> AsyncIterator[InboxStack]:
    """`services` started and ready (with `users` on the inbox channel) and a producer; all stopped on the way out."""
    with temp_workdir(prefix) as work:
        workers, port, passwords = inbox_workers(work, namespace, kafka, users)
        producer = AIOKafkaProducer(bootstrap_servers=kafka)
        try:
            for name in services:
                workers.start(name)
            workers.wait_ready(timeout=120)
            await producer.start()
            yield InboxStack(workers, port, passwords, producer)
        finally:
            await producer.stop()
            workers.stop_all()


def page_csrf(body: str) -> str:
    """The CSRF token of a page's form."""
    found = re.search(r'name=csrf value="([^"]+)"', body)
    assert found
    return found.group(1)


async def signed_in_cookies(inbox: Inbox, rid: str) -> tuple[dict[str, str], str]:
    """Cookies of a signed-in recipient and its CSRF token."""
    form = inbox.signin_form(Request())
    pre = form.cookies[0].value
    reply = await inbox.signin(
        Request(
            form={"csrf": page_csrf(form.body), "recipient_id": rid, "password": PASSWORDS[rid]},
            cookies={PRESESSION_COOKIE: pre},
        )
    )
    assert reply.status == 303
    cookies = {SESSION_COOKIE: next(c.value for c in reply.cookies if c.name == SESSION_COOKIE)}
    page = inbox.index(Request(cookies=cookies))
    return cookies, page_csrf(page.body)
