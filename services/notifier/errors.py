"""The notifier's own errors: a failed delivery attempt (dead-letter reason delivery_failed)."""

from __future__ import annotations

from referral_bus.errors import RejectedMessage


class DeliveryError(RejectedMessage):
    """A delivery attempt failed; `retryable` says whether to try again."""

    reason = "delivery_failed"

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
