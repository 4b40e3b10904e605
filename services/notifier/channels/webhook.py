"""HTTPS webhook channel: signed JSON POST with an idempotency key (traceparent by the httpx instrumentation)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from referral_bus.directory import Recipient, WebhookChannel
from referral_bus.errors import DeliveryError
from services.notifier.payload import body
from services.notifier.secrets import Secrets
from services.notifier.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


class Webhook:
    """One pooled HTTP client for every webhook recipient; TLS verification on unless configured off."""

    name = "webhook"

    def __init__(self, secrets: Secrets, *, timeout_seconds: float, verify_tls: bool = True) -> None:
        self.secrets = secrets
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            verify=verify_tls,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def deliver(self, recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any]) -> None:
        """POST the document; 2xx is delivered, 408/429/5xx and network errors are retryable, other 4xx not."""
        assert isinstance(recipient.channel, WebhookChannel)
        secret = self.secrets.webhook(recipient.id)
        if not secret:
            raise DeliveryError(
                f"no webhook secret for recipient {recipient.id}: provide the file webhook-{recipient.id} "
                "in NOTIFIER_SECRETS_DIR or the variable REFERRAL_BUS_SECRET_WEBHOOK_<ID>",
                retryable=False,
            )
        payload = body(doc)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: referral["referral_id"],
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, payload),
            "User-Agent": "referral-bus-notifier/1",
        }
        timeout = recipient.channel.timeout_seconds
        try:
            response = await self.client.post(
                recipient.channel.url,
                content=payload,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"webhook timed out ({type(exc).__name__})", retryable=True) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable ({type(exc).__name__})", retryable=True) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        retryable = status in (408, 425, 429) or status >= 500
        raise DeliveryError(f"webhook answered HTTP {status}", retryable=retryable)

    async def close(self) -> None:
        """Close pooled connections."""
        await self.client.aclose()
