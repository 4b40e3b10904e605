"""The inbox worker's own error: it cannot start or serve."""

from __future__ import annotations

from referral_bus.errors import ReferralBusError


class InboxError(ReferralBusError):
    """The inbox cannot start or serve: a missing secret or an unreadable lifecycle or labels file."""
