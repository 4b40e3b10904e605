"""A Confluent-compatible schema registry through confluent-kafka's maintained client: ids and schemas, cached.

The codec asks two things of a registry: the id of one of our schemas (registered under the record-name
subject `org.referralbus.v1.<Record>` on first use) and the writer schema behind an id read from a
Confluent-framed message. Ids are immutable in a registry, so both answers are cached for the life of
the process; only a miss goes over HTTP. confluent-kafka's client is blocking: async callers warm the
cache with `asyncio.to_thread` (see `Codec.prefetch`).

Failures map to our reason codes: an id the registry does not hold is `unknown_schema`; a registry that
cannot be reached, times out or answers 5xx/401/403 (after the client's bounded retries with backoff)
is `registry_unavailable`, so the message is dead-lettered whole and `referral-bus deadletter replay`
re-submits it once the registry is back; a refused registration (409/422) is `registry_rejected`.
No message here carries a URL (it may hold credentials), a schema body or a record value.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from referral_bus.errors import (
    ConfigurationError,
    RegistryRejectedError,
    RegistryUnavailableError,
    UnknownSchemaError,
)
from referral_bus.settings import SchemaRegistrySettings

NOT_FOUND_CODES = frozenset({40401, 40402, 40403})


@dataclass(frozen=True)
class RegistryConfig:
    """Where the registry is and how to authenticate; the password never shows in repr or messages."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = 5.0
    max_retries: int = 3
    retry_wait_ms: int = 250
    retry_max_wait_ms: int = 2000

    @property
    def where(self) -> str:
        """Scheme, host and port only: safe to print."""
        parts = urlsplit(self.url.split(",")[0].strip())
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    def client_conf(self) -> dict[str, Any]:
        """The confluent-kafka SchemaRegistryClient configuration."""
        conf: dict[str, Any] = {
            "url": self.url,
            "timeout": self.timeout_seconds,
            "max.retries": self.max_retries,
            "retries.wait.ms": self.retry_wait_ms,
            "retries.max.wait.ms": self.retry_max_wait_ms,
        }
        if self.username:
            conf["basic.auth.user.info"] = f"{self.username}:{self.password or ''}"
        return conf


def config_from_settings(settings: SchemaRegistrySettings | None = None) -> RegistryConfig | None:
    """The configured registry, or None when KAFKA_SCHEMA_REGISTRY_URL is unset."""
    s = settings or SchemaRegistrySettings()
    if not s.url:
        return None
    for url in s.url.split(","):
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("KAFKA_SCHEMA_REGISTRY_URL must be an http(s) URL such as http://127.0.0.1:8081")
        if parts.username or parts.password:
            raise ConfigurationError(
                "KAFKA_SCHEMA_REGISTRY_URL must not carry credentials; set KAFKA_SCHEMA_REGISTRY_USERNAME "
                "and KAFKA_SCHEMA_REGISTRY_PASSWORD (or _PASSWORD_FILE)"
            )
    password = s.password
    if s.password_file is not None:
        if password is not None:
            raise ConfigurationError(
                "set KAFKA_SCHEMA_REGISTRY_PASSWORD or KAFKA_SCHEMA_REGISTRY_PASSWORD_FILE, not both"
            )
        try:
            password = s.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read KAFKA_SCHEMA_REGISTRY_PASSWORD_FILE {s.password_file}: {type(exc).__name__}"
            ) from exc
    if password is not None and not s.username:
        raise ConfigurationError("a schema registry password is set but KAFKA_SCHEMA_REGISTRY_USERNAME is not")
    return RegistryConfig(
        url=s.url,
        username=s.username,
        password=password,
        timeout_seconds=s.timeout_seconds,
        max_retries=s.max_retries,
        retry_wait_ms=s.retry_wait_ms,
        retry_max_wait_ms=s.retry_max_wait_ms,
    )


class SchemaRegistry:
    """Cached id ↔ schema look-ups against one registry; thread-safe (misses run in worker threads)."""

    def __init__(self, config: RegistryConfig) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.config = config
        self._client = SchemaRegistryClient(config.client_conf())
        self._ids: dict[str, int] = {}  # subject -> id of our current schema
        self._writers: dict[int, dict[str, Any]] = {}  # id -> writer schema (parsed JSON)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the HTTP session."""
        self._client.close()

    def cached_id(self, subject: str) -> int | None:
        """The id of our schema under `subject`, if already known."""
        return self._ids.get(subject)

    def cached_writer(self, schema_id: int) -> dict[str, Any] | None:
        """The writer schema behind `schema_id`, if already fetched."""
        return self._writers.get(schema_id)

    def register(self, subject: str, schema_json: str) -> int:
        """Register (or find, when identical) `schema_json` under `subject`; return its id. Blocking on a miss."""
        known = self._ids.get(subject)
        if known is not None:
            return known
        from confluent_kafka.schema_registry import Schema

        schema_id = int(self._call(lambda: self._client.register_schema(subject, Schema(schema_json, "AVRO"))))
        with self._lock:
            self._ids[subject] = schema_id
            self._writers.setdefault(schema_id, json.loads(schema_json))
        return schema_id

    def writer(self, schema_id: int) -> dict[str, Any]:
        """The Avro writer schema registered under `schema_id`. Blocking on a miss."""
        known = self._writers.get(schema_id)
        if known is not None:
            return known
        schema = self._call(lambda: self._client.get_schema(schema_id), schema_id=schema_id)
        if (schema.schema_type or "AVRO").upper() != "AVRO":
            raise UnknownSchemaError(f"schema id {schema_id} is a {schema.schema_type} schema, not Avro")
        if schema.references:
            raise UnknownSchemaError(f"schema id {schema_id} uses schema references, which are not supported")
        try:
            parsed = json.loads(schema.schema_str or "")
        except json.JSONDecodeError as exc:
            raise UnknownSchemaError(f"schema id {schema_id} is not valid Avro schema JSON") from exc
        if isinstance(parsed, str):  # a primitive schema such as "string"
            parsed = {"type": parsed}
        if not isinstance(parsed, dict):
            raise UnknownSchemaError(f"schema id {schema_id} is not an Avro record schema")
        with self._lock:
            self._writers[schema_id] = parsed
        return parsed

    def _call(self, request: Any, *, schema_id: int | None = None) -> Any:
        """Run one client request and turn its failures into our reason codes."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return request()
        except SchemaRegistryError as exc:
            status, code = exc.http_status_code, exc.error_code
            if schema_id is not None and (status == 404 or code in NOT_FOUND_CODES):
                raise UnknownSchemaError(
                    f"schema id {schema_id} is not in the schema registry at {self.config.where} "
                    "(written against another registry, or deleted)"
                ) from None
            if status in (409, 422):
                raise RegistryRejectedError(
                    f"the schema registry at {self.config.where} refused our schema (HTTP {status}, code {code}): "
                    "check the subject's compatibility level (BACKWARD_TRANSITIVE expected)"
                ) from None
            if status in (401, 403):
                raise RegistryUnavailableError(
                    f"the schema registry at {self.config.where} refused our credentials (HTTP {status}): "
                    "check KAFKA_SCHEMA_REGISTRY_USERNAME / _PASSWORD, then replay"
                ) from None
            raise RegistryUnavailableError(
                f"the schema registry at {self.config.where} failed (HTTP {status}, code {code}); "
                "replay once it recovers"
            ) from None
        except Exception as exc:  # noqa: BLE001 - network errors of the client's HTTP stack, after its retries
            raise RegistryUnavailableError(
                f"the schema registry at {self.config.where} is unreachable ({type(exc).__name__} after "
                f"{self.config.max_retries} retries); replay once it is back"
            ) from None
