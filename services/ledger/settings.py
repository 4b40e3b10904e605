"""The ledger worker's settings: `LEDGER_*` variables (and the shared mixins of referral_bus/settings.py)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from referral_bus.settings import MountedSecrets, ServiceSettings


class LedgerSettings(ServiceSettings, MountedSecrets):
    """`LEDGER_*` variables (docs/data-protection.md).

    Mounted secrets: `ledger-checkpoint-key` signs the checkpoints (or REFERRAL_BUS_SECRET_LEDGER_CHECKPOINT_KEY).
    """

    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    web_port: int = 6071
    checkpoint_every: int = Field(default=100, ge=1)  # a signed checkpoint after this many entries per partition
    # the ledger is off the delivery path: disclosures gather at the broker up to consumer_fetch_max_wait_ms (or
    # consumer_fetch_min_bytes) per fetch, and its appends up to producer_linger_ms per produce request
    # (docs/data-protection.md, Cost); LEDGER_CONSUMER_FETCH_MIN_BYTES=1: a fetch per record, as other workers
    consumer_fetch_min_bytes: int = Field(default=65_536, ge=1)
    consumer_fetch_max_wait_ms: int = Field(default=200, ge=1, le=1000)
    producer_linger_ms: int = Field(default=50, ge=0)
