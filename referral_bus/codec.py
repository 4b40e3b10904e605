"""The one codec every service uses: Avro single-object encoding, or Confluent framing with a schema registry.

Single-object (default): `C3 01` + 8-byte CRC-64-AVRO fingerprint + body; the writer schema is found
among our contracts and their kept versions. Confluent framing (when KAFKA_SCHEMA_REGISTRY_URL is set):
`00` + 4-byte big-endian registry schema id + body; the writer schema is fetched from the registry by
id (cached). Decoding accepts both framings whatever is configured, and reads the body from the writer's
schema into our current reader schema. See schemas/avro/README.md for what is and is not supported.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import SchemaParseException

from referral_bus import compatibility
from referral_bus.contracts import NAMESPACE, Contracts, Schema, _make
from referral_bus.contracts import contracts as shipped_contracts
from referral_bus.errors import (
    InvalidFieldError,
    OversizedMessageError,
    RegistryUnavailableError,
    UndecodableError,
    UnknownSchemaError,
    WriterSchemaRefusedError,
    WrongSchemaError,
)
from referral_bus.schema_registry import SchemaRegistry, config_from_settings
from referral_bus.writer_schema import usable

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
CONFLUENT_MAGIC = b"\x00"
CONFLUENT_HEADER_SIZE = len(CONFLUENT_MAGIC) + 4
# Always single-object: a dead letter must be writable while the registry is down.
SINGLE_OBJECT_ONLY = frozenset({"DeadLetter"})
# Registry look-ups of every codec run here, never on an event loop; a hung registry ties up these
# threads only, and callers stop waiting at the registry's deadline (RegistryConfig.deadline_seconds).
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="schema-registry")
T = TypeVar("T")
# What fastavro raises for a record that breaks its schema (OverflowError: a long or int out of its range).
_ENCODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


class _FromSettings:
    """Marker: take the schema registry from KAFKA_SCHEMA_REGISTRY_* settings."""


FROM_SETTINGS = _FromSettings()


def subject_for(schema: Schema) -> str:
    """The registry subject of one of our records: RecordNameStrategy, `<namespace>.<Record>`."""
    return schema.fullname


def confluent_frame(schema_id: int, body: bytes) -> bytes:
    """Magic byte 0, the 4-byte big-endian schema id, then the Avro body."""
    if not 0 <= schema_id < 2**32:
        raise ValueError(f"schema id {schema_id} does not fit the 4-byte Confluent header")
    return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big") + body


def confluent_id(data: bytes) -> int | None:
    """The schema id of a Confluent-framed message, or None when `data` is not in that framing."""
    if data[:1] != CONFLUENT_MAGIC:
        return None
    if len(data) < CONFLUENT_HEADER_SIZE:
        raise UndecodableError("Confluent framing (magic byte 00) needs a 4-byte schema id after it")
    return int.from_bytes(data[1:CONFLUENT_HEADER_SIZE], "big")


@dataclass(frozen=True)
class Embedding:
    """A record schema split around one field holding a record of a current schema (`Codec.encode_embedding`)."""

    usable: bool
    before: Any = None  # parsed: a record of the fields before `field`
    after: Any = None  # parsed: a record of the fields after it

    @classmethod
    def of(cls, contracts: Contracts, name: str, field: str) -> Embedding:
        """The split of `name` around `field`; not usable when `field` is not a current record schema as is."""
        expanded = contracts.current[name].expanded
        fields = expanded["fields"]
        at = next((i for i, f in enumerate(fields) if f["name"] == field), None)
        inner = fields[at]["type"] if at is not None else None
        embedded = contracts.current.get(inner.get("name", "")) if isinstance(inner, dict) else None
        if at is None or embedded is None or inner != embedded.expanded:
            return cls(usable=False)
        try:
            part = {k: v for k, v in expanded.items() if k not in ("name", "fields", "doc")}
            before = parse_schema({**part, "name": f"{expanded['name']}Before", "fields": fields[:at]})
            after = parse_schema({**part, "name": f"{expanded['name']}After", "fields": fields[at + 1 :]})
        except SchemaParseException:  # a named type defined on one side and used on the other
            return cls(usable=False)
        return cls(usable=True, before=before, after=after)

    def body(self, name: str, record: dict[str, Any], embedded: bytes) -> bytes:
        """The Avro body of `record` with the embedded field's bytes given."""
        buf = io.BytesIO()
        try:
            schemaless_writer(buf, self.before, record)
            buf.write(embedded)
            schemaless_writer(buf, self.after, record)
        except _ENCODE_ERRORS as exc:
            raise InvalidFieldError(f"{name} does not match its schema: {type(exc).__name__}") from exc
        return buf.getvalue()


class Codec:
    """Encodes records with their current schema; decodes any known version into the current one."""

    def __init__(
        self,
        contracts: Contracts | None = None,
        *,
        max_bytes: int | None = None,
        schema_registry: SchemaRegistry | _FromSettings | None = FROM_SETTINGS,
    ) -> None:
        self._contracts = contracts or shipped_contracts()
        self._writers = self._contracts.by_fingerprint()
        self._max_bytes = max_bytes
        if isinstance(schema_registry, _FromSettings):
            config = config_from_settings()
            schema_registry = SchemaRegistry(config) if config else None
        self.schema_registry = schema_registry
        self._by_id: dict[int, Schema] = {}  # registry id -> writer schema, checked readable
        self._usable: dict[tuple[bytes, str], str | None] = {}  # (writer fingerprint, reader) -> why not
        self._fetching: dict[int, asyncio.Future[Schema]] = {}  # ids being looked up: one request for all waiting
        self._embeddings: dict[tuple[str, str], Embedding] = {}  # (record, field) -> encode_embedding's split

    def schema(self, name: str) -> Schema:
        """The current schema of a record."""
        return self._contracts.current[name]

    def _body(self, name: str, schema: Schema, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        try:
            schemaless_writer(buf, schema.parsed, record)
        except _ENCODE_ERRORS as exc:
            raise InvalidFieldError(f"{name} does not match its schema: {type(exc).__name__}") from exc
        return buf.getvalue()

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """Encode `record` as record type `name`: Confluent-framed when a registry is set, else single-object.

        With a registry, the first encode of each record type registers (or finds) its schema, one
        blocking HTTP call per process and record type; `prefetch(encodes=...)` does it off the loop.
        """
        schema = self._contracts.current[name]
        return self._frame(name, schema, self._body(name, schema, record))

    def _frame(self, name: str, schema: Schema, body: bytes) -> bytes:
        if self.schema_registry is not None and name not in SINGLE_OBJECT_ONLY:
            return confluent_frame(self.registry_id(name), body)
        return MAGIC + schema.fingerprint + body

    def current_body(self, data: bytes, name: str) -> bytes | None:
        """The Avro body of `data` (already decoded as `name`) if the current `name` schema wrote it, else None."""
        writer, header = self._writer(data)
        return data[header:] if writer is self._contracts.current[name] else None

    def encode_embedding(self, name: str, record: dict[str, Any], field: str, body: bytes) -> bytes:
        """`encode(name, record)` with `record[field]` given as `body`, the Avro body of its current schema.

        The embedded record is not encoded again (`current_body` of the bytes it was decoded from): Avro
        writes a record's fields one after the other, so the bytes are the fields before it, `body`, the rest.
        Falls back to `encode` where `field` is not a record of a current schema (`Embedding`).
        """
        embedding = self._embeddings.get((name, field))
        if embedding is None:
            embedding = self._embeddings[(name, field)] = Embedding.of(self._contracts, name, field)
        if not embedding.usable:
            return self.encode(name, record)
        schema = self._contracts.current[name]
        return self._frame(name, schema, embedding.body(name, record, body))

    def registry_id(self, name: str) -> int:
        """The registry id of the current `name` schema (registered on first use; blocking on a miss)."""
        if self.schema_registry is None:
            raise UnknownSchemaError("no schema registry is configured (KAFKA_SCHEMA_REGISTRY_URL)")
        schema = self._contracts.current[name]
        schema_id = self.schema_registry.register(subject_for(schema), json.dumps(schema.expanded))
        self._by_id.setdefault(schema_id, schema)
        return schema_id

    async def prefetch(self, data: bytes | None = None, *, encodes: Iterable[str] = ()) -> None:
        """Warm the registry caches off the event loop: the writer of `data`, the ids of `encodes`.

        Raises what `decode` would raise for that writer (unknown id, registry unavailable), so a
        caller may let it propagate to its dead-letter path. Without a registry, a no-op.
        """
        registry = self.schema_registry
        if registry is None:
            return
        for name in encodes:
            if name in SINGLE_OBJECT_ONLY:
                continue
            if registry.cached_id(subject_for(self._contracts.current[name])) is None:
                await self._off_loop(registry.config.deadline_seconds, self.registry_id, name)
        if data:
            schema_id = confluent_id(data)
            if schema_id is not None and schema_id not in self._by_id:
                failure = registry.cached_failure(schema_id)
                if failure is not None:
                    raise failure
                fetching = self._fetching.get(schema_id)
                if fetching is None:
                    lookup = self._off_loop(registry.config.deadline_seconds, self._registry_writer, schema_id)
                    fetching = self._fetching[schema_id] = asyncio.ensure_future(lookup)
                    fetching.add_done_callback(lambda _: self._fetching.pop(schema_id, None))
                await asyncio.shield(fetching)

    async def _off_loop(self, deadline: float, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` in the look-up threads; RegistryUnavailableError when it takes over `deadline` seconds."""
        future = asyncio.get_running_loop().run_in_executor(_LOOKUPS, call, *args)
        try:
            return await asyncio.wait_for(future, deadline)
        except TimeoutError:
            where = self.schema_registry.config.where if self.schema_registry else "?"
            raise RegistryUnavailableError(
                f"the schema registry at {where} did not answer within {deadline:.0f} s; replay once it recovers"
            ) from None

    def _registry_writer(self, schema_id: int) -> Schema:
        """The writer schema behind a registry id, as one of ours when its canonical form matches."""
        known = self._by_id.get(schema_id)
        if known is not None:
            return known
        if self.schema_registry is None:
            raise UnknownSchemaError(
                f"Confluent-framed message (magic byte 00, schema id {schema_id}) but no schema registry is "
                "configured: set KAFKA_SCHEMA_REGISTRY_URL and replay it"
            )
        expanded = self.schema_registry.writer(schema_id)
        try:
            theirs = _make(_short_name(expanded), 0, expanded)
        except Exception as exc:
            raise UnknownSchemaError(
                f"schema id {schema_id} is not a valid Avro schema ({type(exc).__name__})"
            ) from exc
        writer = self._writers.get(theirs.fingerprint, theirs)
        self._by_id[schema_id] = writer
        return writer

    def writer_of(self, data: bytes) -> Schema:
        """The schema that wrote `data`, from its single-object or Confluent header."""
        return self._writer(data)[0]

    def _writer(self, data: bytes) -> tuple[Schema, int]:
        """(writer schema, header length) of `data` in either framing."""
        schema_id = confluent_id(data)
        if schema_id is not None:
            return self._registry_writer(schema_id), CONFLUENT_HEADER_SIZE
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise UndecodableError(
                "not Avro single-object encoded (header C3 01 + 8-byte schema fingerprint) nor Confluent-framed "
                "(magic byte 00 + 4-byte schema id)"
            )
        fp = data[2:HEADER_SIZE]
        writer = self._writers.get(fp)
        if writer is None:
            raise UnknownSchemaError(
                f"unknown schema fingerprint {fp.hex()}: not one of our contracts or their versions"
            )
        return writer, HEADER_SIZE

    def _readable(self, writer: Schema, reader: Schema, data: bytes) -> None:
        """A registry schema that is not one of ours must resolve into our reader; say why not."""
        if writer.version != 0:  # one of our own versions: `schemas check` proved it readable
            return
        key = (writer.fingerprint, reader.name)
        if key not in self._usable:
            self._usable[key] = usable(writer.expanded, reader.expanded)
        why = self._usable[key]
        if why is not None:
            raise WriterSchemaRefusedError(f"schema id {confluent_id(data)} is refused for {reader.name}: {why}")
        problems = compatibility.incompatibilities(writer.expanded, reader.expanded, reader.name)
        if problems:
            raise UnknownSchemaError(
                f"schema id {confluent_id(data)} cannot be read as {reader.name} v{reader.version}: {problems[0]}"
            )

    def decode(self, data: bytes, name: str) -> dict[str, Any]:
        """Decode `data` written with any known version of `name` into the current `name` schema."""
        if self._max_bytes is not None and len(data) > self._max_bytes:
            raise OversizedMessageError(f"message of {len(data)} bytes exceeds the limit of {self._max_bytes}")
        writer, header = self._writer(data)
        if writer.name != name:
            raise WrongSchemaError(f"expected a {name} record but it was written as {writer.name}")
        reader = self._contracts.current[name]
        self._readable(writer, reader, data)
        buf = io.BytesIO(data)
        buf.seek(header)
        try:
            record = schemaless_reader(buf, writer.parsed, reader.parsed if writer is not reader else None)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise UndecodableError(f"corrupt {name} body: {type(exc).__name__}") from exc
        if buf.tell() != len(data):
            raise UndecodableError(f"{len(data) - buf.tell()} trailing bytes after the {name} record")
        if not isinstance(record, dict):
            raise UndecodableError(f"{name} body did not decode to a record")
        return record


def _short_name(schema: dict[str, Any]) -> str:
    """The unqualified name of a record schema (`org.referralbus.v1.CaseReport` → `CaseReport`)."""
    name = schema.get("name")
    if schema.get("type") != "record" or not isinstance(name, str):
        return "?"
    return name.rsplit(".", 1)[-1]


__all__ = [
    "CONFLUENT_HEADER_SIZE",
    "CONFLUENT_MAGIC",
    "FROM_SETTINGS",
    "HEADER_SIZE",
    "MAGIC",
    "NAMESPACE",
    "Codec",
    "Embedding",
    "confluent_frame",
    "confluent_id",
    "subject_for",
]
