"""Partner Kafka channel: the referral document (JSON, as a webhook receives it) to `referrals.partner.<id>.v1`.

The document carries only what the recipient's profile allows; a withheld field is absent, never
replaced by an invented value (an Avro record would need a value for every field: consent REFUSED
would read NOT_ASKED, an age band UNKNOWN). docs/webhooks.md describes the document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from referral_domain.directory import Recipient
from services.notifier.payload import body

Send = Callable[[str, bytes, bytes], Awaitable[None]]  # (recipient id, key, value)


class PartnerTopic:
    """Produces each referral document, redacted to the recipient's profile, to the recipient's own topic."""

    name = "kafka"

    def __init__(self, send: Send) -> None:
        self.send = send

    async def deliver(self, recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any]) -> None:
        """Canonical JSON bytes of the document (the same bytes a webhook's signature covers)."""
        await self.send(recipient.id, referral["case_id"].encode(), body(doc))

    async def close(self) -> None:
        """Nothing to release: the Faust producer belongs to the app."""
