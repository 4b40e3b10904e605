"""What every delivery channel provides."""

from __future__ import annotations

from typing import Any, Protocol

from referral_domain.directory import Recipient


class Channel(Protocol):
    """Delivers one referral document to one recipient; raises DeliveryError on failure."""

    name: str

    async def deliver(self, recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any]) -> None:
        """Deliver, or raise DeliveryError(retryable=...)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
