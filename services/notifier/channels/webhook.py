"""HTTPS webhook channel: signed JSON POST with an idempotency key (and `traceparent`: http_spans.client_span).

aiohttp's client, not httpx: the benchmark measured httpx at about a third of the notifier's CPU per
delivery and aiohttp several times cheaper for the same POST (docs/performance.md).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from referral_bus.http_spans import client_span
from referral_domain.directory import Recipient, WebhookChannel
from services.notifier.errors import DeliveryError
from services.notifier.payload import body
from services.notifier.secrets import Secrets
from services.notifier.signing import signed_headers


class Webhook:
    """One pooled HTTP client for every webhook recipient; TLS verification on unless configured off."""

    name = "webhook"

    def __init__(
        self, secrets: Secrets, *, timeout_seconds: float, verify_tls: bool = True, max_connections: int = 100
    ) -> None:
        self.secrets = secrets
        self.max_connections = max_connections  # enough for every agent's slots: no lane waits for a connection
        self.timeout_seconds = timeout_seconds
        self.verify_tls = verify_tls
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The pooled session, made on first use (it belongs to the running event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, ssl=self.verify_tls),
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            )
        return self._session

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
        headers = {
            "Content-Type": "application/json",
            **signed_headers(secret, referral["referral_id"], payload),  # key, timestamp, nonce, signature
            "User-Agent": "referral-bus-notifier/1",
        }
        # the recipient's own timeout, else the client's (None here would mean no timeout at all)
        seconds = recipient.channel.timeout_seconds or self.timeout_seconds
        try:
            with client_span("POST", recipient.channel.url, headers) as call:
                async with self._client().post(
                    recipient.channel.url,
                    data=payload,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=seconds),
                    allow_redirects=False,  # a redirect would re-post the document and its signature elsewhere
                ) as response:
                    status = response.status
                    call.answered(status)
                    await response.content.read(65536)  # drain a small answer so the connection is reused
        except TimeoutError as exc:
            raise DeliveryError(f"webhook timed out ({type(exc).__name__})", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"webhook unreachable ({type(exc).__name__})", retryable=True) from None
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise DeliveryError(
                f"webhook answered HTTP {status} (a redirect): redirects are never followed; "
                "set the recipient's url to the final address",
                retryable=False,
            )
        retryable = status in (408, 425, 429) or status >= 500
        raise DeliveryError(f"webhook answered HTTP {status}", retryable=retryable)

    async def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.close()
