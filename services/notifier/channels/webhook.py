"""HTTPS webhook channel: signed JSON POST with an idempotency key (and `traceparent`: http_spans.client_span).

Our lean client (`services.notifier.http_client`), not aiohttp's or httpx's: httpx cost about a third of the
notifier's CPU per delivery; a whole `deliver` took ~280 µs of CPU with aiohttp, ~160 µs with ours
(docs/performance.md).
"""

from __future__ import annotations

from typing import Any

from referral_bus.http_spans import client_span
from referral_domain.directory import Recipient, WebhookChannel
from services.notifier.errors import DeliveryError
from services.notifier.http_client import ConnectionFailed, HttpClient, UnsendableRequest
from services.notifier.http_response import MalformedResponse
from services.notifier.payload import body
from services.notifier.secrets import Secrets
from services.notifier.signing import signed_headers


def refusal_of(status: int) -> DeliveryError | None:
    """None for 2xx; else the failed attempt: 408/425/429/5xx retryable, a redirect or another 4xx not."""
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return DeliveryError(
            f"webhook answered HTTP {status} (a redirect): redirects are never followed; "
            "set the recipient's url to the final address",
            retryable=False,
        )
    return DeliveryError(f"webhook answered HTTP {status}", retryable=status in (408, 425, 429) or status >= 500)


class Webhook:
    """One pooled HTTP client for every webhook recipient; TLS verification on unless configured off."""

    name = "webhook"

    def __init__(
        self, secrets: Secrets, *, timeout_seconds: float, verify_tls: bool = True, max_connections: int = 100
    ) -> None:
        self.secrets = secrets
        self.timeout_seconds = timeout_seconds
        # max_connections: enough for every agent's slots, so no lane waits for a connection
        self._http = HttpClient(verify_tls=verify_tls, max_connections=max_connections)

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
                # no redirect is followed: it would re-post the document and its signature elsewhere
                status = await self._http.post(recipient.channel.url, payload, headers, seconds)
                call.answered(status)
        except TimeoutError as exc:
            raise DeliveryError(f"webhook timed out ({type(exc).__name__})", retryable=True) from None
        except ConnectionFailed as exc:
            raise DeliveryError(f"webhook unreachable: {exc}", retryable=True) from None
        except MalformedResponse as exc:
            raise DeliveryError(f"webhook answered with a malformed response: {exc}", retryable=True) from None
        except UnsendableRequest as exc:
            raise DeliveryError(
                f"webhook request to recipient {recipient.id} cannot be sent: {exc}", retryable=False
            ) from None
        refusal = refusal_of(status)
        if refusal is not None:
            raise refusal

    async def close(self) -> None:
        """Close pooled connections."""
        await self._http.close()
