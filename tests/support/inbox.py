"""The inbox in tests: a worker stack with inbox users, and a browser-like client signed in as one of them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from referral_bus.settings import config_file
from referral_devstack.inbox import use_inbox, write_inbox_secrets
from referral_devstack.workers import Workers, free_port


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
