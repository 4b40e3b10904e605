"""The local stack's own errors (no worker raises them, so they live outside the runtime kernel)."""

from __future__ import annotations

from referral_bus.errors import ReferralBusError


class BrokerError(ReferralBusError):
    """The local Kafka broker could not be prepared, started or reached."""


class LocalRegistryError(ReferralBusError):
    """The local schema registry (for development and tests) could not be built, started or reached."""


class TraceBackendError(ReferralBusError):
    """The trace backend (Jaeger) could not be installed, started or queried, or holds no such trace."""


class TraceNotFoundError(TraceBackendError):
    """No trace of a report in the trace backend: a wrong id, spans not exported, or the report not sampled."""
