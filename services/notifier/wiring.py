"""The worker's delivery parts, built once from settings, and what every handler produces.

Directory, secrets, channels, Deliverer, retry policy and breakers; receipts and retries. The logic
is in deliver.py, backoff.py and breaker.py; this module only connects it to Kafka.
"""

from __future__ import annotations

from typing import Any

from referral_bus import topics
from referral_bus.directory import load_directory
from referral_bus.errors import DeliveryError
from services.notifier.backoff import RetryPolicy
from services.notifier.breaker import Breakers
from services.notifier.channels.base import Channel
from services.notifier.channels.email import Email
from services.notifier.channels.partner import PartnerTopic
from services.notifier.channels.webhook import Webhook
from services.notifier.deliver import Deliverer
from services.notifier.secrets import Secrets
from services.notifier.topology import delivered, receipts_topic, retry_topic
from services.notifier.worker import codec, service, settings

secrets = Secrets(settings.secrets_dir)
directory = load_directory(settings.directory_path)
_partner_topics = {
    r.id: service.topic(topics.partner_topic(r.id)) for r in directory.recipients.values() if r.channel.type == "kafka"
}


async def _send_partner(recipient_id: str, key: bytes, value: bytes) -> None:
    await service.send(_partner_topics[recipient_id], key, value)


channels: dict[str, Channel] = {
    "webhook": Webhook(secrets, timeout_seconds=settings.http_timeout_seconds, verify_tls=settings.tls_verify),
    "email": Email(secrets, timeout_seconds=settings.http_timeout_seconds),
    "kafka": PartnerTopic(service.codec, _send_partner),
}
deliverer = Deliverer(directory, channels, delivered)
policy = RetryPolicy(
    settings.max_attempts, settings.backoff_base_seconds, settings.backoff_max_seconds, settings.max_retry_age_seconds
)
breakers = Breakers(settings.breaker_failure_threshold, settings.breaker_reset_seconds)


def channel_of(recipient_id: str) -> str | None:
    """The channel type of a recipient in the directory, or None for an unknown recipient."""
    r = directory.get(recipient_id)
    return r.channel.type if r else None


async def emit(record: dict[str, Any]) -> None:
    """Produce one receipt (keyed by case_id); the referral's offset moves on only once the broker has it."""
    await service.send(receipts_topic, record["case_id"].encode(), codec.encode("DeliveryReceipt", record))


async def requeue(referral: dict[str, Any], *, attempt: int, not_before: int, last_error: str | None) -> None:
    """The referral to the retry topic, keyed by its case like everything else.

    Raises DeliveryError (dead-lettered by run_guarded) instead when the retry would fall past the
    policy's age limit: a recipient that stays down ends with its referrals in the dead-letter topic.
    """
    give_up = policy.past_deadline(referral["created_at"], not_before)
    if give_up is not None:
        raise DeliveryError(f"{give_up.reason}; last error: {last_error or 'recipient paused'}", retryable=False)
    record = {**referral, "attempt": attempt, "not_before": not_before, "last_error": last_error}
    await service.send(retry_topic, referral["case_id"].encode(), codec.encode("Referral", record))
