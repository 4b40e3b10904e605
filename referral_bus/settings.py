"""Typed settings read from environment variables (one prefix per service); nothing else reads the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from referral_bus.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parent.parent  # the source tree (also /app in the image)


class BusSettings(BaseSettings):
    """`REFERRAL_BUS_*` variables every process shares: topic namespace, where contracts and configuration are.

    An installed package (no source tree next to it) sets REFERRAL_BUS_SCHEMA_DIR and
    REFERRAL_BUS_CONFIG_DIR; the defaults are `schemas/avro/` and `config/` of the source tree.
    """

    model_config = SettingsConfigDict(env_prefix="REFERRAL_BUS_", extra="ignore")

    namespace: str = ""  # prefix for every topic and consumer group (tests use one per test)
    schema_dir: Path = REPO_ROOT / "schemas" / "avro"
    config_dir: Path = REPO_ROOT / "config"
    # how long a dead letter keeps the original bytes (personal data); its digest and reason stay a year
    # on referrals.deadletter-digests.v1 (docs/data-protection.md). Manifests: regenerate after a change.
    deadletter_retention_days: int = Field(default=14, ge=1)
    # shared mounted secrets: `case-key-kek` (the key-encryption key of the case keys; unset: cases not sealed)
    secrets_dir: Path | None = None
    # how long the case key table's follower in each worker lets key records gather at the broker per fetch:
    # one fetch per this interval instead of one per key (docs/data-protection.md, Cost); a key not yet read
    # when a sealed case needs it is waited for, at most about this long more; 0: a fetch per key
    case_keys_fetch_wait_ms: int = Field(default=100, ge=0, le=500)


def config_file(name: str) -> Path:
    """A file of the configuration folder (REFERRAL_BUS_CONFIG_DIR)."""
    return BusSettings().config_dir / name


def config_file_field(name: str) -> Any:
    """A settings field whose default is `config_file(name)`, looked up when the settings are read."""
    return Field(default_factory=lambda: config_file(name))


class TracingSettings(BaseSettings):
    """The standard `OTEL_*` variables this code reads itself (the SDK reads the rest)."""

    model_config = SettingsConfigDict(env_prefix="OTEL_", extra="ignore")

    sdk_disabled: str = ""
    traces_exporter: str = ""
    exporter_otlp_endpoint: str = ""
    exporter_otlp_traces_endpoint: str = ""
    exporter_otlp_protocol: str = ""
    exporter_otlp_traces_protocol: str = ""
    service_name: str = ""
    bsp_max_queue_size: str = ""  # the SDK reads these itself; tracing.batch_settings only asks whether they are set
    bsp_max_export_batch_size: str = ""
    traces_sampler: str = ""  # the SDK decides with these; `referral-bus trace` names them when a trace is absent
    traces_sampler_arg: str = ""

    @property
    def enabled(self) -> bool:
        """True when the variables ask for trace export."""
        if self.sdk_disabled.lower() == "true":
            return False
        exporter = self.traces_exporter
        return bool(
            self.exporter_otlp_endpoint or self.exporter_otlp_traces_endpoint or (exporter and exporter != "none")
        )


class EventLoopSettings(BaseSettings):
    """`EVENT_LOOP`: the event loop every worker and bench process runs on (README, Configuration)."""

    model_config = SettingsConfigDict(extra="ignore")

    event_loop: Literal["uvloop", "asyncio"] = "asyncio"  # uvloop opt-in: no gain for ours (bench/results/loop.md)


class SecretVariables:
    """`REFERRAL_BUS_SECRET_<NAME>` variables: secrets given in the environment instead of mounted files."""

    PREFIX = "REFERRAL_BUS_SECRET_"

    @classmethod
    def get(cls, name: str) -> str | None:
        """The variable for secret `name` (`webhook-x` → REFERRAL_BUS_SECRET_WEBHOOK_X), or None."""
        return os.environ.get(cls.PREFIX + name.upper().replace("-", "_"))


class KafkaSettings(BaseSettings):
    """How to reach Kafka; `KAFKA_*` variables, shared by every service and the CLI."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    fetch_sessions: bool = False  # incremental fetches (KIP-227, fetch_session.py); opt-in: docs/performance.md

    @model_validator(mode="after")
    def _complete(self) -> KafkaSettings:
        """Refuse a half-configured TLS/SASL setting instead of failing later at connect."""
        if self.security_protocol.startswith("SASL"):
            missing = [
                name
                for name, value in (
                    ("KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                    ("KAFKA_SASL_USERNAME", self.sasl_username),
                    ("KAFKA_SASL_PASSWORD", self.sasl_password),
                )
                if not value
            ]
            if missing:
                raise ConfigurationError(f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs {', '.join(missing)}")
        elif self.sasl_mechanism or self.sasl_username or self.sasl_password:
            raise ConfigurationError(
                "KAFKA_SASL_* is set but KAFKA_SECURITY_PROTOCOL is "
                f"{self.security_protocol}; set it to SASL_SSL or SASL_PLAINTEXT"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ConfigurationError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE must be set together")
        return self

    @property
    def faust_broker(self) -> str:
        """The broker URL in Faust's form."""
        return ";".join(f"kafka://{h.strip()}" for h in self.bootstrap_servers.split(","))


class SchemaRegistrySettings(BaseSettings):
    """`KAFKA_SCHEMA_REGISTRY_*` variables: a Confluent-compatible schema registry, optional.

    Unset URL (the default) means single-object encoding only. Credentials for HTTP basic auth come from
    USERNAME plus PASSWORD or PASSWORD_FILE (a mounted secret); they never appear in a log or an error.
    """

    model_config = SettingsConfigDict(env_prefix="KAFKA_SCHEMA_REGISTRY_", extra="ignore")

    url: str | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_wait_ms: int = Field(default=250, ge=1)
    retry_max_wait_ms: int = Field(default=2000, ge=1)
    # how long an id the registry does not hold is answered from memory (unknown_schema) before asking again
    negative_cache_seconds: float = Field(default=60.0, ge=0)


def read_secret(directory: Path | None, name: str) -> str | None:
    """A secret as `<directory>/<name>` (a mounted Secret) or `REFERRAL_BUS_SECRET_<NAME>`; None when not set."""
    if directory is not None and (directory / name).is_file():
        return (directory / name).read_text(encoding="utf-8").strip()
    return SecretVariables.get(name)


# Intake's and routing's producer linger: at the knee (850–1,000/s) one produce request per ≈ 21 reports instead of
# ≈ 7, −14 % of the workers' CPU and −24 % of the broker's per report, for ≈ 10–16 ms more p50 at 100–300/s
# (bench/results/lng.md).
DELIVERY_PATH_LINGER_MS = 20


class ServiceSettings(BaseSettings):
    """Settings every worker has; subclasses add a prefix and their own fields."""

    model_config = SettingsConfigDict(extra="ignore")

    web_host: str = "127.0.0.1"
    web_port: int = 6066  # intake's; the other services set their own
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"
    stream_buffer_maxsize: int = Field(default=4096, ge=1)
    # Bytes one fetch takes per partition at most (None: twice KAFKA_MAX_MESSAGE_BYTES; a larger record
    # still comes whole). Faust hands a fetch's records on one at a time, so this bounds how many records
    # of a backlog are dispatched ahead of another topic's (the notifier's priority lanes).
    max_partition_fetch_bytes: int | None = Field(default=None, ge=1024)
    broker_commit_every: int = Field(default=100, ge=1)
    broker_commit_interval: float = Field(default=1.0, gt=0)
    producer_linger_ms: int = Field(default=5, ge=0)  # intake and routing: DELIVERY_PATH_LINGER_MS
    # Events handled whose sends are not yet all acknowledged by the broker (see inflight.py).
    max_in_flight: int = Field(default=500, ge=1)
    data_dir: Path = REPO_ROOT / ".local" / "faust"
    # Exit (for a restart by the supervisor) when records wait on assigned partitions, the broker
    # answers, and no offset moved for this long; 0 = off. See referral_bus/watchdog.py.
    stall_timeout_seconds: float = Field(default=300.0, ge=0)
    # An event loop held LAG_MS (100) or more and every full garbage collection logged at INFO with their time, CPU
    # and where the loop was held: what a latency stall lines up with (referral_bus/pauses.py; ≈ 0.2 % of a core).
    pause_evidence: bool = True
    # Kafka client lines repeated within this many seconds are summarised, one line per interval
    # with a count; the broker outage and the recovery are logged once each (referral_bus/lograte.py).
    log_repeat_interval_seconds: float = Field(default=30.0, gt=0)
    # Expired table entries (referral_bus/expiry.py) are swept per partition at most this often.
    expiry_interval_seconds: float = Field(default=60.0, gt=0)
    # Per-event lines (case accepted, delivered, ...) are DEBUG unless this is on; one INFO `events summary`
    # line per stage every LOG_SUMMARY_INTERVAL_SECONDS gives the counts by outcome (referral_bus/summary.py).
    log_each_event: bool = False
    log_summary_interval_seconds: float = Field(default=10.0, gt=0)
    # The batch loop (Service.run_guarded): the sends of up to BATCH_MAX_EVENTS handled events are awaited
    # together, a batch open at most BATCH_WINDOW_MS; 1 = each event's sends awaited on their own.
    batch_max_events: int = Field(default=100, ge=1)
    batch_window_ms: float = Field(default=5.0, gt=0)
    # Client settings (docs/performance.md): bytes per producer batch; records per poll (0 = no limit);
    # a fetch waits at the broker for CONSUMER_FETCH_MIN_BYTES, at most CONSUMER_FETCH_MAX_WAIT_MS.
    producer_max_batch_size: int = Field(default=65536, ge=1024)
    broker_max_poll_records: int = Field(default=500, ge=0)
    consumer_fetch_min_bytes: int = Field(default=1, ge=1)
    consumer_fetch_max_wait_ms: int = Field(default=1500, ge=1)
    # While records flow (a fetch's positions moved since the last), a fetch waits for CONSUMER_FETCH_GATHER_MIN_BYTES,
    # at most CONSUMER_FETCH_GATHER_MAX_WAIT_MS: one fetch and one produce round per several reports, not per
    # report; after an empty fetch, the settings above again (an idle worker polls no more). 0: off.
    consumer_fetch_gather_min_bytes: int = Field(default=65536, ge=1)
    consumer_fetch_gather_max_wait_ms: int = Field(default=10, ge=0)


class AgenciesFile(BaseSettings):
    """The agency registry: each agency's intake topic, recipients acknowledging on their own topic."""

    agencies_path: Path = config_file_field("agencies.yaml")  # referral_domain/agencies.py


class DirectoryFile(BaseSettings):
    """The recipients directory."""

    directory_path: Path = config_file_field("recipients.yaml")  # referral_domain/directory.py


class MountedSecrets(BaseSettings):
    """A service's folder of mounted secrets, one file each (`<PREFIX>SECRETS_DIR`; referral_bus/secretfiles.py)."""

    secrets_dir: Path | None = None


class SafeguardSettings(BaseSettings):
    """`REFERRAL_BUS_*` safeguard settings, shared by routing, the notifier and `rules check`."""

    model_config = SettingsConfigDict(env_prefix="REFERRAL_BUS_", extra="ignore")

    safeguards_path: Path = config_file_field("safeguards.yaml")
    # Development only: plain http:// webhooks and SMTP without TLS to loopback hosts, and
    # NOTIFIER_TLS_VERIFY=false, are allowed; every worker logs it loudly at start.
    dev_insecure_transport: bool = False


class LifecycleSettings(BaseSettings):
    """`REFERRAL_BUS_LIFECYCLE_PATH`: the referral lifecycle (config/lifecycle.yaml), shared by every service."""

    model_config = SettingsConfigDict(env_prefix="REFERRAL_BUS_", extra="ignore")

    lifecycle_path: Path = config_file_field("lifecycle.yaml")
