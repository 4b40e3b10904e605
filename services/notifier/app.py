"""Notifier worker: `faust -A services.notifier.app worker`."""

from __future__ import annotations

from referral_bus import logging as rb_logging
from referral_bus import metrics, topics
from referral_bus.deadletter import SourceMessage
from referral_bus.directory import load_directory
from referral_bus.errors import DeliveryError
from referral_bus.settings import NotifierSettings
from referral_bus.tracing import stage_span
from referral_bus.worker import Service
from services.notifier.channels.base import Channel
from services.notifier.channels.email import Email
from services.notifier.channels.partner import PartnerTopic
from services.notifier.channels.webhook import Webhook
from services.notifier.deliver import Deliverer
from services.notifier.secrets import Secrets

settings = NotifierSettings()
service = Service("notifier", settings)
app = service.app
log = rb_logging.get_logger()

referrals_topic = service.topic(topics.REFERRALS)
receipts_topic = service.topic(topics.RECEIPTS)
delivered = app.Table(
    "deliveries",
    default=None,
    partitions=service.kafka.topic_partitions,
    key_type=str,
    value_type=int,
)
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


async def handle(msg: SourceMessage) -> None:
    """Deliver one referral and emit its receipt."""
    referral = service.codec.decode(msg.value or b"", "Referral")
    with stage_span(
        "notifier deliver",
        **{"referral_bus.case_id": referral["case_id"], "referral_bus.recipient_id": referral["recipient_id"]},
    ):
        try:
            outcome = await deliverer.deliver(referral)
        except DeliveryError as exc:
            log.warning(
                "delivery failed",
                case_id=referral["case_id"],
                recipient=referral["recipient_id"],
                error=str(exc),
                retryable=exc.retryable,
            )
            raise
    if outcome.duplicate:
        metrics.count("notifier", "duplicate")
        return
    assert outcome.receipt is not None
    await service.send(
        receipts_topic, referral["case_id"].encode(), service.codec.encode("DeliveryReceipt", outcome.receipt)
    )
    log.info(
        "referral delivered",
        case_id=referral["case_id"],
        recipient=referral["recipient_id"],
        channel=outcome.receipt["channel"],
        latency_ms=outcome.receipt["latency_ms"],
    )
    metrics.count("notifier", "delivered")


@app.agent(referrals_topic)
async def notifier_agent(stream):  # type: ignore[no-untyped-def]
    """Thin shell: every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handle)
