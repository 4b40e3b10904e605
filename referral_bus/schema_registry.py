"""A Confluent-compatible schema registry through confluent-kafka's maintained client: ids and schemas, cached.

The codec asks two things of a registry: the id of one of our schemas (registered under the record-name
subject `org.referralbus.v1.<Record>` on first use) and the writer schema behind an id read from a
Confluent-framed message. Ids are immutable in a registry, so both answers are cached for the life of
the process; only a miss goes over HTTP. confluent-kafka's client is blocking: async callers warm the
cache in a small thread pool with an overall deadline (see `Codec.prefetch`), never on the event loop.

A registry is not trusted: a writer schema is checked before use (referral_bus/writer_schema.py) and a
refused one is `writer_schema_refused` for the life of the process (ids are immutable). An id the
registry does not hold is remembered as unknown for `negative_cache_seconds` (bounded to
NEGATIVE_CACHE_SIZE ids, oldest dropped first), so a stream of messages naming unknown ids costs one
request per id and period, not one per message.

Failures map to our reason codes: an id the registry does not hold is `unknown_schema`; a registry that
cannot be reached, times out or answers 5xx/401/403 (after the client's bounded retries with backoff)
is `registry_unavailable`, so the message is dead-lettered whole and `referral-bus deadletter replay`
re-submits it once the registry is back; a refused registration (409/422) is `registry_rejected`.
No message here carries a URL (it may hold credentials), a schema body or a record value.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from referral_bus.errors import (
    ConfigurationError,
    RegistryRejectedError,
    RegistryUnavailableError,
    RejectedMessage,
    UnknownSchemaError,
    WriterSchemaRefusedError,
)
from referral_bus.settings import SchemaRegistrySettings
from referral_bus.writer_schema import MAX_SCHEMA_CHARS, refusal

NOT_FOUND_CODES = frozenset({40401, 40402, 40403})
NEGATIVE_CACHE_SIZE = 4096  # unknown ids remembered at once
REFUSED_CACHE_SIZE = 4096  # refused writer schemas remembered at once


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
    negative_cache_seconds: float = 60.0

    @property
    def deadline_seconds(self) -> float:
        """The longest one look-up may take, every retry and wait included (then: registry_unavailable)."""
        return self.timeout_seconds * (self.max_retries + 1) + self.retry_max_wait_ms * self.max_retries / 1000 + 1

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
    # every other setting is a field of the same name; the password file becomes the password
    return RegistryConfig(**s.model_dump(exclude={"password", "password_file"}), password=password)


class SchemaRegistry:
    """Cached id ↔ schema look-ups against one registry; thread-safe (misses run in worker threads)."""

    def __init__(self, config: RegistryConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.config = config
        self._client = SchemaRegistryClient(config.client_conf())
        self._ids: dict[str, int] = {}  # subject -> id of our current schema
        self._writers: dict[int, dict[str, Any]] = {}  # id -> writer schema (parsed JSON)
        self._unknown: OrderedDict[int, tuple[float, str]] = OrderedDict()  # id -> (until, message)
        self._refused: OrderedDict[int, str] = OrderedDict()  # id -> why (ids are immutable: for good)
        self._clock = clock
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

    def cached_failure(self, schema_id: int) -> RejectedMessage | None:
        """What looking `schema_id` up would raise, when it is remembered as unknown or refused."""
        with self._lock:
            refused = self._refused.get(schema_id)
            if refused is not None:
                return WriterSchemaRefusedError(refused)
            unknown = self._unknown.get(schema_id)
            if unknown is not None and unknown[0] > self._clock():
                return UnknownSchemaError(unknown[1])
            self._unknown.pop(schema_id, None)
        return None

    def _remember(self, cache: OrderedDict[int, Any], size: int, schema_id: int, entry: Any) -> None:
        with self._lock:
            cache[schema_id] = entry
            cache.move_to_end(schema_id)
            while len(cache) > size:
                cache.popitem(last=False)

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
        failure = self.cached_failure(schema_id)
        if failure is not None:
            raise failure
        try:
            schema = self._call(lambda: self._client.get_schema(schema_id), schema_id=schema_id)
        except UnknownSchemaError as exc:
            if self.config.negative_cache_seconds > 0:
                until = self._clock() + self.config.negative_cache_seconds
                self._remember(self._unknown, NEGATIVE_CACHE_SIZE, schema_id, (until, str(exc)))
            raise
        if (schema.schema_type or "AVRO").upper() != "AVRO":
            raise UnknownSchemaError(f"schema id {schema_id} is a {schema.schema_type} schema, not Avro")
        if schema.references:
            raise UnknownSchemaError(f"schema id {schema_id} uses schema references, which are not supported")
        text = schema.schema_str or ""
        if len(text) > MAX_SCHEMA_CHARS:
            self._refuse(schema_id, f"is {len(text)} characters, over {MAX_SCHEMA_CHARS} (rule: bounded size)")
        try:
            parsed = json.loads(text)
        except RecursionError:
            self._refuse(schema_id, "is nested too deeply to parse (rule: bounded nesting)")
        except json.JSONDecodeError as exc:
            raise UnknownSchemaError(f"schema id {schema_id} is not valid Avro schema JSON") from exc
        if isinstance(parsed, str):  # a primitive schema such as "string"
            parsed = {"type": parsed}
        if not isinstance(parsed, dict):
            raise UnknownSchemaError(f"schema id {schema_id} is not an Avro record schema")
        why = refusal(parsed)
        if why is not None:
            self._refuse(schema_id, why)
        with self._lock:
            self._writers[schema_id] = parsed
        return parsed

    def _refuse(self, schema_id: int, why: str) -> None:
        """Remember and raise that the writer schema behind `schema_id` is refused."""
        message = f"schema id {schema_id} is refused: {why}"
        self._remember(self._refused, REFUSED_CACHE_SIZE, schema_id, message)
        raise WriterSchemaRefusedError(message)

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
