"""E-mail transport safeguards on a real SMTP server: TLS required, per-recipient credentials never in clear."""

from __future__ import annotations

import pytest

from referral_devstack.receivers import MailReceiver
from referral_domain.directory import Recipient
from services.notifier.channels.email import Email
from services.notifier.errors import DeliveryError
from services.notifier.secrets import Secrets


def desk(port: int, **channel: object) -> Recipient:
    return Recipient.model_validate(
        {
            "id": "desk",
            "name": "desk",
            "kind": "social_services",
            "jurisdictions": ["VN"],
            "channel": {"type": "email", "to": ["d@example.invalid"], "smtp_port": port, **channel},
        }
    )


REFERRAL = {"referral_id": "r-1", "case_id": "c-1", "priority": "P2", "ack_sla_seconds": 60}


async def test_starttls_is_required_not_opportunistic(mail: MailReceiver) -> None:
    """The default: a server that offers no STARTTLS gets nothing, not a message in clear."""
    with pytest.raises(DeliveryError, match="TLS"):
        await Email(Secrets(None), timeout_seconds=5).deliver(desk(mail.port), REFERRAL, {"case": {}})
    assert mail.messages == []


async def test_credentials_are_per_recipient_and_never_sent_in_clear(
    mail: MailReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRAL_BUS_SECRET_SMTP_USERNAME_DESK", "desk-user")
    monkeypatch.setenv("REFERRAL_BUS_SECRET_SMTP_PASSWORD_DESK", "desk-password")
    with pytest.raises(DeliveryError, match="never sent without TLS") as err:
        await Email(Secrets(None), timeout_seconds=5).deliver(desk(mail.port, tls="none"), REFERRAL, {"case": {}})
    assert not err.value.retryable and "desk-password" not in str(err.value)
    assert mail.messages == []
    # without credentials, a loopback development receiver in clear still works (the safeguards decide)
    monkeypatch.delenv("REFERRAL_BUS_SECRET_SMTP_USERNAME_DESK")
    monkeypatch.delenv("REFERRAL_BUS_SECRET_SMTP_PASSWORD_DESK")
    await Email(Secrets(None), timeout_seconds=5).deliver(desk(mail.port, tls="none"), REFERRAL, {"case": {}})
    assert len(mail.messages) == 1
