"""SMTP e-mail channel for agencies without an API: plain text and HTML, only the profile's fields."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from referral_domain.directory import EmailChannel, Recipient
from services.notifier.errors import DeliveryError
from services.notifier.secrets import Secrets
from services.notifier.signing import IDEMPOTENCY_HEADER


def _flatten(doc: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(doc, dict):
        rows: list[tuple[str, str]] = []
        for k, v in doc.items():
            rows.extend(_flatten(v, f"{prefix}{k}."))
        return rows
    if isinstance(doc, list):
        return [(prefix.rstrip("."), json.dumps(doc, ensure_ascii=False))]
    return [(prefix.rstrip("."), "" if doc is None else str(doc))]


Link = Callable[[Recipient, dict[str, Any]], str | None]  # the signed inbox link of a referral, if any


def message(
    recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any], link: str | None = None
) -> EmailMessage:
    """The e-mail for one referral: a subject without personal data, text and HTML bodies of `doc`.

    `link` (docs/inbox.md): the signed address where the recipient accepts, declines or closes it.
    """
    assert isinstance(recipient.channel, EmailChannel)
    msg = EmailMessage()
    msg["Subject"] = f"[{referral['priority']}] Referral {referral['referral_id']} (case {referral['case_id']})"
    msg["From"] = recipient.channel.sender
    msg["To"] = ", ".join(recipient.channel.to)
    msg[IDEMPOTENCY_HEADER] = referral["referral_id"]
    msg["Message-ID"] = f"<{referral['referral_id']}@referral-bus>"
    rows = _flatten(doc)
    text = "\n".join(f"{k}: {v}" for k, v in rows)
    where = f"Open it in the inbox to accept, decline or close it: {link}\n" if link else ""
    msg.set_content(
        f"A referral for {recipient.name}.\nAcknowledge within {referral['ack_sla_seconds']} seconds.\n"
        f"{where}\n{text}\n"
    )
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    anchor = f'<p><a href="{html.escape(link)}">Open it in the inbox</a></p>' if link else ""
    msg.add_alternative(
        f"<html><body><p>A referral for {html.escape(recipient.name)}.</p>{anchor}<table>{table}</table></body></html>",
        subtype="html",
    )
    return msg


class Email:
    """Sends over SMTP: STARTTLS required by default, per-recipient credentials only over TLS."""

    name = "email"

    def __init__(self, secrets: Secrets, *, timeout_seconds: float, link: Link | None = None) -> None:
        self.secrets = secrets
        self.timeout = timeout_seconds
        self.link = link

    async def deliver(self, recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any]) -> None:
        """Send one message; connection and 4xx SMTP errors are retryable, 5xx are not.

        TLS is required unless the recipient says `tls: none` (which the safeguards allow only to a
        loopback host in development); credentials are the recipient's own and never go in clear.
        """
        ch = recipient.channel
        assert isinstance(ch, EmailChannel)
        username = self.secrets.get(f"smtp-username-{recipient.id}")
        password = self.secrets.get(f"smtp-password-{recipient.id}")
        mode = ch.tls_mode
        if mode == "none" and (username or password):
            raise DeliveryError(
                f"SMTP credentials of recipient {recipient.id} are never sent without TLS: set its channel tls "
                "to starttls or implicit",
                retryable=False,
            )
        try:
            await aiosmtplib.send(
                message(recipient, referral, doc, self.link(recipient, referral) if self.link else None),
                hostname=ch.smtp_host,
                port=ch.smtp_port,
                use_tls=mode == "implicit",
                start_tls=True if mode == "starttls" else False,
                validate_certs=True,
                username=username,
                password=password,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP server answered {exc.code}", retryable=exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"SMTP server unreachable or refused TLS ({type(exc).__name__})", retryable=True
            ) from None

    async def close(self) -> None:
        """Nothing pooled."""
