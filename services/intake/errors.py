"""The intake worker's own rejections (dead-letter reasons of a report); the shared ones are referral_bus/errors.py."""

from __future__ import annotations

from referral_bus.errors import RejectedMessage


class AgencyMismatchError(RejectedMessage):
    """A report's agency_id is not the agency whose own intake topic carried it."""

    reason = "agency_mismatch"


class UnknownJurisdictionError(RejectedMessage):
    """A jurisdiction code is not a known ISO 3166-1/-2 code."""

    reason = "unknown_jurisdiction"
