"""Avro single-object encoding (`C3 01` + CRC-64-AVRO fingerprint + body), the one codec every service uses."""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from referral_bus.errors import (
    InvalidFieldError,
    OversizedMessageError,
    UndecodableError,
    UnknownSchemaError,
    WrongSchemaError,
)
from referral_bus.schemas import Registry, Schema, registry

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8


class Codec:
    """Encodes records with their current schema; decodes any known version into the current one."""

    def __init__(self, contracts: Registry | None = None, *, max_bytes: int | None = None) -> None:
        self._registry = contracts or registry()
        self._writers = self._registry.by_fingerprint()
        self._max_bytes = max_bytes

    def schema(self, name: str) -> Schema:
        """The current schema of a record."""
        return self._registry.current[name]

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """Encode `record` as record type `name` in single-object encoding."""
        schema = self._registry.current[name]
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(schema.fingerprint)
        try:
            schemaless_writer(buf, schema.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidFieldError(f"{name} does not match its schema: {type(exc).__name__}") from exc
        return buf.getvalue()

    def writer_of(self, data: bytes) -> Schema:
        """The schema that wrote `data`, from its single-object header."""
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise UndecodableError(
                "not Avro single-object encoded: expected the header C3 01 and an 8-byte schema fingerprint"
            )
        fp = data[2:HEADER_SIZE]
        writer = self._writers.get(fp)
        if writer is None:
            raise UnknownSchemaError(
                f"unknown schema fingerprint {fp.hex()}: not one of our contracts or their versions"
            )
        return writer

    def decode(self, data: bytes, name: str) -> dict[str, Any]:
        """Decode `data` written with any known version of `name` into the current `name` schema."""
        if self._max_bytes is not None and len(data) > self._max_bytes:
            raise OversizedMessageError(f"message of {len(data)} bytes exceeds the limit of {self._max_bytes}")
        writer = self.writer_of(data)
        if writer.name != name:
            raise WrongSchemaError(f"expected a {name} record but it was written as {writer.name}")
        reader = self._registry.current[name]
        buf = io.BytesIO(data)
        buf.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(buf, writer.parsed, reader.parsed if writer is not reader else None)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise UndecodableError(f"corrupt {name} body: {type(exc).__name__}") from exc
        if buf.tell() != len(data):
            raise UndecodableError(f"{len(data) - buf.tell()} trailing bytes after the {name} record")
        if not isinstance(record, dict):
            raise UndecodableError(f"{name} body did not decode to a record")
        return record
