"""The notifier worker's settings: `NOTIFIER_*` variables, grouped by what they govern.

Each group is a mixin of `NotifierSettings`, so every field is read under the `NOTIFIER_` prefix
(`NOTIFIER_BREAKER_RESET_SECONDS`, ...); the shared mixins are those of referral_bus/settings.py.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from referral_bus.settings import AgenciesFile, DirectoryFile, MountedSecrets, ServiceSettings


class Channels(BaseSettings):
    """How a channel talks to a recipient (channels/), and the ack endpoint's body limit (ackview.py)."""

    http_timeout_seconds: float = Field(default=10.0, gt=0)
    tls_verify: bool = True
    ack_max_body_bytes: int = Field(default=4096, ge=64)


class Attempts(BaseSettings):
    """When a failed delivery is tried again and when it is given up (backoff.py, decide.py)."""

    max_attempts: int = Field(default=6, ge=1)
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    # A referral not delivered this long after routing is dead-lettered instead of retried or
    # deferred again (also while its recipient is paused); 0 = no limit.
    max_retry_age_seconds: float = Field(default=86_400.0, ge=0)


class Breaker(BaseSettings):
    """A recipient's circuit breaker (breaker.py): how many failures open it, how long it stays open."""

    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)


class Lanes(BaseSettings):
    """Deliveries at once per lane's agent, and the urgent lane's precedence (precedence.py)."""

    # Deliveries in progress at once per agent. Not Faust's agent concurrency (which can commit an
    # offset past a message still being handled, faust-streaming #606): Service.run_guarded runs
    # them and acknowledges offsets strictly in order (referral_bus/inflight.py).
    delivery_concurrency: int = Field(default=16, ge=1)
    # Priority lanes (topic_catalog.LANES): while the urgent lane has a referral (or retry) in hand, the other
    # lanes start none, each waiting at most this long (services/notifier/precedence.py); 0 = no precedence.
    lane_yield_max_seconds: float = Field(default=1.0, ge=0)


class EarlyAcks(BaseSettings):
    """Acknowledgements that arrive before their referral (earlyacks.py)."""

    # Kept until the referral does: at most this many referrals' worth per worker (beyond: dead-lettered,
    # replayable), each at most this long.
    early_ack_limit: int = Field(default=10_000, ge=1)
    early_ack_ttl_seconds: float = Field(default=7 * 86_400.0, gt=0)


class InboxLinks(BaseSettings):
    """The inbox copy of a referral and the signed link in its e-mail (docs/inbox.md)."""

    # The inbox's public address (e.g. https://inbox.example.org/inbox): when set, referrals to inbox and
    # e-mail recipients are also produced to referrals.inbox.v1 and each e-mail carries a signed link
    # (secret `inbox-link-key`) valid this long.
    inbox_url: str | None = None
    inbox_link_ttl_seconds: int = Field(default=14 * 86_400, ge=60)


class NotifierSettings(
    ServiceSettings,
    DirectoryFile,
    AgenciesFile,
    MountedSecrets,
    Channels,
    Attempts,
    Breaker,
    Lanes,
    EarlyAcks,
    InboxLinks,
):
    """`NOTIFIER_*` variables."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    web_port: int = 6068
    # how often the timers run: the SLA check (sla.py, dueindex.py), the release of retries that are due
    sla_check_interval_seconds: float = Field(default=5.0, gt=0)
    retry_release_interval_seconds: float = Field(default=0.5, gt=0)
    # A closed referral's state (and its delivered-once mark) is kept this long after its last write.
    referral_retention_days: float = Field(default=30.0, gt=0)
    # Small fetches: an urgent referral waits behind at most one fetch of each standard-lane partition.
    max_partition_fetch_bytes: int | None = Field(default=65_536, ge=1024)
    # The notifier's records (receipts, disclosures, status, its state changelog) come after the webhook POST:
    # they gather up to this long per produce request, fewer and fuller requests for the broker at light load;
    # a partner-topic or inbox delivery and the ack endpoint's answer wait up to this long more (bench/results/bcpu.md)
    producer_linger_ms: int = Field(default=50, ge=0)
