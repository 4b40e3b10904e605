"""The notifier worker's settings: `NOTIFIER_*` variables (and the shared mixins of referral_bus/settings.py)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from referral_bus.settings import AgenciesFile, DirectoryFile, MountedSecrets, ServiceSettings


class NotifierSettings(ServiceSettings, DirectoryFile, AgenciesFile, MountedSecrets):
    """`NOTIFIER_*` variables."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    web_port: int = 6068
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    tls_verify: bool = True
    max_attempts: int = Field(default=6, ge=1)
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    # A referral not delivered this long after routing is dead-lettered instead of retried or
    # deferred again (also while its recipient is paused); 0 = no limit.
    max_retry_age_seconds: float = Field(default=86_400.0, ge=0)
    sla_check_interval_seconds: float = Field(default=5.0, gt=0)
    retry_release_interval_seconds: float = Field(default=0.5, gt=0)
    # Deliveries in progress at once per agent. Not Faust's agent concurrency (which can commit an
    # offset past a message still being handled, faust-streaming #606): Service.run_guarded runs
    # them and acknowledges offsets strictly in order (referral_bus/inflight.py).
    delivery_concurrency: int = Field(default=16, ge=1)
    ack_max_body_bytes: int = Field(default=4096, ge=64)
    # Acknowledgements that arrive before their referral are kept until it does (services/notifier/earlyacks.py):
    # at most this many referrals' worth per worker (beyond: dead-lettered, replayable), each at most this long.
    early_ack_limit: int = Field(default=10_000, ge=1)
    early_ack_ttl_seconds: float = Field(default=7 * 86_400.0, gt=0)
    # The inbox's public address (e.g. https://inbox.example.org/inbox): when set, referrals to inbox and
    # e-mail recipients are also produced to referrals.inbox.v1 and each e-mail carries a signed link
    # (secret `inbox-link-key`) valid this long. docs/inbox.md.
    inbox_url: str | None = None
    inbox_link_ttl_seconds: int = Field(default=14 * 86_400, ge=60)
    # A closed referral's state (and its delivered-once mark) is kept this long after its last write.
    referral_retention_days: float = Field(default=30.0, gt=0)
    # Priority lanes (topic_catalog.LANES): while the urgent lane has a referral in hand, the other lanes
    # start none, each waiting at most this long (services/notifier/precedence.py); 0 = no precedence.
    lane_yield_max_seconds: float = Field(default=1.0, ge=0)
    # Small fetches: an urgent referral waits behind at most one fetch of each standard-lane partition.
    max_partition_fetch_bytes: int | None = Field(default=65_536, ge=1024)
