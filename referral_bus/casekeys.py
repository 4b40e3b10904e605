"""The case key table: every case's wrapped data key on the compacted topic referrals.casekeys.v1.

Intake writes a case's key (wrapped under the key-encryption key, secret `case-key-kek`) before the
case; `referral-bus erase` writes a tombstone. Every worker that opens personal fields (routing,
notifier, stats, inbox) follows the topic from its start with `CaseKeys.run` and asks `open_case`: a sealed
case opens with its key, an erased one reads with its personal fields withheld. docs/data-protection.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from functools import cache
from typing import Any

from referral_bus import logging as rb_logging
from referral_bus import topics
from referral_bus.casecrypt import decrypt_personal, encrypt_personal, is_sealed, new_key, unwrap, wrap
from referral_bus.contracts import contracts, pii_paths
from referral_bus.errors import RejectedMessage
from referral_bus.kafka import client_kwargs, ensure_topics
from referral_bus.settings import BusSettings, KafkaSettings, read_secret

KEK_SECRET = "case-key-kek"  # noqa: S105 - the secret's name, not its value
FETCH_MIN_BYTES = 65_536  # a fetch of the key table returns early only once this much has gathered
log = rb_logging.get_logger()


class CaseKeyUnavailableError(RejectedMessage):
    """A sealed case whose key has not arrived (yet): replay the dead letter once the key table is readable."""

    reason = "case_key_unavailable"


def kek_from_settings() -> bytes | None:
    """The key-encryption key (32 bytes derived from the secret), or None: cases are then not sealed."""
    value = read_secret(BusSettings().secrets_dir, KEK_SECRET)
    return hashlib.sha256(value.encode("utf-8")).digest() if value else None


@cache
def case_paths() -> tuple[str, ...]:
    """The personal fields of a Case (schema annotations)."""
    return tuple(pii_paths(contracts().current["Case"].expanded))


@cache
def _report_parts() -> tuple[tuple[str, ...], ...]:
    """Each personal field's path within the report, split once (`sealed` runs for every delivery and route)."""
    return tuple(tuple(p.removeprefix("report.").split(".")) for p in case_paths())


def sealed(case: dict[str, Any]) -> bool:
    """True when any personal field of `case` is sealed."""
    report = case.get("report") or {}
    return any(is_sealed(v) for parts in _report_parts() for v in _values(report, parts))


def _values(node: Any, parts: tuple[str, ...]) -> list[Any]:
    for part in parts:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, list) else [node]


class CaseKeys:
    """The key table as this worker has read it: case id → data key, or None once erased."""

    def __init__(self, kek: bytes | None, kafka: KafkaSettings | None = None, *, wait_seconds: float = 15.0) -> None:
        self.kek = kek
        self.kafka = kafka or KafkaSettings()
        self.wait_seconds = wait_seconds
        self._keys: dict[str, bytes | None] = {}
        self._arrived = asyncio.Event()

    @property
    def enabled(self) -> bool:
        """Whether cases are sealed (a key-encryption key is configured)."""
        return self.kek is not None

    def record(self, case_id: str, wrapped: bytes | None) -> None:
        """One record of the key topic (None: a tombstone, the case is erased)."""
        if wrapped is None:
            self._keys[case_id] = None
        elif self.kek is not None and self._keys.get(case_id, b"") is not None:
            self._keys[case_id] = unwrap(self.kek, case_id, wrapped.decode("ascii"))
        self._arrived.set()

    async def key_for(self, case_id: str, *, may_exist: bool) -> tuple[bytes, bytes | None]:
        """The case's data key and, when it is new, the wrapped bytes to produce to the key table first.

        `may_exist`: the case was emitted before (a linked report): wait for its key rather than replace it,
        which would leave the earlier copies unreadable.
        """
        assert self.kek is not None
        if may_exist and case_id not in self._keys:
            await self._wait_for(case_id)
        key = self._keys.get(case_id)
        if key is not None:
            return key, None
        key = new_key()
        self._keys[case_id] = key
        return key, wrap(self.kek, case_id, key).encode("ascii")

    async def _wait_for(self, case_id: str) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while case_id not in self._keys and time.monotonic() < deadline:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break

    def seal(self, case: dict[str, Any], key: bytes) -> dict[str, Any]:
        """The case with its personal fields sealed."""
        return encrypt_personal(case, case["case_id"], key, case_paths())

    async def open_case(self, case: dict[str, Any]) -> dict[str, Any]:
        """The case with its personal fields opened; withheld when erased; as is when not sealed."""
        return await self.open_copy(case["case_id"], case)

    async def open_copy(self, case_id: str, case: dict[str, Any]) -> dict[str, Any]:
        """`open_case` for a copy of case `case_id` that may lack its case_id (a redacted document's case)."""
        if not sealed(case):
            return case
        await self._wait_for(case_id)
        if case_id not in self._keys:
            raise CaseKeyUnavailableError(f"no key for sealed case {case_id} on the case key table yet")
        return decrypt_personal(case, case_id, self._keys[case_id], case_paths())

    def reseal(self, case_id: str, case: dict[str, Any]) -> dict[str, Any]:
        """An opened copy of case `case_id` (e.g. redacted) sealed again to be kept downstream (the inbox's).

        As is when this worker holds no key for the case: not sealed, or erased (its fields are withheld already).
        """
        key = self._keys.get(case_id)
        return case if key is None else encrypt_personal(case, case_id, key, case_paths())

    async def run(self) -> None:
        """Follow the key topic from its beginning, forever (a Faust app task)."""
        from aiokafka import AIOKafkaConsumer

        name = topics.name(topics.CASEKEYS)
        await ensure_topics(self.kafka, [name])
        # no group: every partition, from the beginning (nothing committed), new ones found on metadata refresh
        # Key records gather at the broker for up to `case_keys_fetch_wait_ms` (or 64 KiB) per fetch: a fetch per
        # key cost each worker ~0.5 ms of CPU per case (docs/data-protection.md, Cost). 0: a fetch per key.
        wait = BusSettings().case_keys_fetch_wait_ms
        gather = {"fetch_max_wait_ms": wait, "fetch_min_bytes": FETCH_MIN_BYTES} if wait else {}
        consumer = AIOKafkaConsumer(
            name,
            **client_kwargs(self.kafka),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **gather,
        )
        await consumer.start()
        try:
            while True:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    for r in batch:
                        try:
                            self.record((r.key or b"").decode("utf-8"), r.value)
                        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the others
                            log.error("case key record unreadable", error=type(exc).__name__, offset=r.offset)
        finally:
            await consumer.stop()
