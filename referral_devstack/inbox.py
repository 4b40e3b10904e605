"""The inbox in the local stack: which sample recipients use it, their passwords, and the settings for both workers.

Development only: passwords are random per run and printed by `make run`; the hashes use fewer PBKDF2
rounds than production (`referral-bus inbox hash-password` uses the full count) so a sign-in is quick.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

import yaml

from services.inbox.passwords import hash_password

# Sample units without a system of their own: a provincial police unit (declines go to the national
# unit of the same kind) and a provincial child-protection office.
INBOX_RECIPIENTS = ("vn-police-ha-noi", "vn-child-protection-ha-noi")
DEV_ITERATIONS = 20_000


def use_inbox(directory_file: Path, recipient_ids: Sequence[str] = INBOX_RECIPIENTS) -> Path:
    """Give `recipient_ids` of a (local copy of a) recipients file the inbox channel, in place."""
    data = yaml.safe_load(directory_file.read_text(encoding="utf-8"))
    for r in data["recipients"]:
        if r["id"] in recipient_ids:
            r["channel"] = {"type": "inbox"}
    directory_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return directory_file


def write_inbox_secrets(directory_file: Path, secrets_dir: Path, *, iterations: int = DEV_ITERATIONS) -> dict[str, str]:
    """Session and link keys, and a random password per inbox user (hash in its secret file); returns the passwords."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    (secrets_dir / "inbox-session-key").write_text(secrets.token_urlsafe(32), encoding="utf-8")
    (secrets_dir / "inbox-link-key").write_text(secrets.token_urlsafe(32), encoding="utf-8")
    passwords = {}
    for r in yaml.safe_load(directory_file.read_text(encoding="utf-8"))["recipients"]:
        if r["channel"]["type"] in ("inbox", "email"):
            password = secrets.token_urlsafe(9)
            hashed = hash_password(password, iterations=iterations)
            (secrets_dir / f"inbox-password-{r['id']}").write_text(hashed, encoding="utf-8")
            passwords[r["id"]] = password
    return passwords


def inbox_env(directory_file: Path, secrets_dir: Path, inbox_port: int) -> dict[str, str]:
    """Settings of the inbox worker and the notifier's inbox address (plain http on loopback: dev cookies)."""
    return {
        "INBOX_DIRECTORY_PATH": str(directory_file),
        "INBOX_SECRETS_DIR": str(secrets_dir),
        "INBOX_DEV_INSECURE_COOKIES": "true",
        "INBOX_WEB_PORT": str(inbox_port),
        "NOTIFIER_INBOX_URL": f"http://127.0.0.1:{inbox_port}/inbox",
    }
