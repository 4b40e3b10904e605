"""The sample recipients directory pointed at the local receivers, with generated secrets."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from referral_bus.settings import config_file
from referral_devstack.receivers import MailReceiver, WebhookReceiver


def rewrite_directory(source: Path, target: Path, *, webhook_base: str, smtp_port: int) -> Path:
    """A copy of a recipients file whose webhooks and SMTP servers point at the local receivers."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for r in data["recipients"]:
        ch = r["channel"]
        if ch["type"] == "webhook":
            ch["url"] = f"{webhook_base}/{r['id']}"
        elif ch["type"] == "email":
            ch["smtp_host"], ch["smtp_port"] = "127.0.0.1", smtp_port
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def write_secrets(directory_file: Path, secrets_dir: Path) -> dict[str, str]:
    """A random webhook secret per webhook recipient, as mounted-Secret files; returns them."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for r in yaml.safe_load(directory_file.read_text(encoding="utf-8"))["recipients"]:
        secret = uuid.uuid4().hex
        (secrets_dir / f"webhook-{r['id']}").write_text(secret, encoding="utf-8")
        (secrets_dir / f"ack-token-{r['id']}").write_text(uuid.uuid4().hex, encoding="utf-8")
        out[r["id"]] = secret
    return out


def local_agencies(work: Path, web: WebhookReceiver, mail: MailReceiver) -> tuple[Path, dict[str, str]]:
    """The sample directory pointed at the local receivers, its secrets, and the workers' settings for both."""
    directory = rewrite_directory(
        config_file("recipients.yaml"),
        work / "recipients.yaml",
        webhook_base=web.base_url,
        smtp_port=mail.port,
    )
    write_secrets(directory, work / "secrets")
    env = {
        "ROUTING_DIRECTORY_PATH": str(directory),
        "NOTIFIER_DIRECTORY_PATH": str(directory),
        "NOTIFIER_SECRETS_DIR": str(work / "secrets"),
    }
    return directory, env


def ack_token(secrets_dir: Path, recipient_id: str) -> str:
    """The ack token write_secrets gave a recipient."""
    return (secrets_dir / f"ack-token-{recipient_id}").read_text(encoding="utf-8").strip()
