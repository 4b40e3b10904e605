"""The statistics' own error (the stats worker and `referral-bus stats`)."""

from __future__ import annotations

from referral_bus.errors import ReferralBusError


class StatsError(ReferralBusError):
    """The statistics cannot be computed, read or written (bad week, missing topic, bad settings file)."""
