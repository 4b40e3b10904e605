"""Intake's decision for one message: rekey, reject, drop as duplicate, or accept as a case."""

from __future__ import annotations

import json
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from referral_bus.codec import Codec
from referral_bus.ids import uuid5_text
from referral_bus.staged import StagedTable
from services.intake.errors import AgencyMismatchError
from services.intake.report import accepted_report

CASE_NAMESPACE = uuid.UUID("6f1c1f8e-7d5e-4a57-9a1e-2f0b8f1c0a11")


def report_key(agency_id: str, report_id: str) -> str:
    """The Kafka key of a report on an intake topic (partitioning only: identity is `dedup_key`)."""
    return f"{agency_id}/{report_id}"


def dedup_key(agency_id: str, report_id: str) -> str:
    """The deduplication key: both parts as a JSON array, so no two different pairs share one.

    (`agency/report` text would not do: "a/b" + "c" and "a" + "b/c" are the same string.)
    """
    if type(agency_id) is str and type(report_id) is str:  # json.dumps's own string encoder, no encoder built
        return f"[{encode_basestring(agency_id)},{encode_basestring(report_id)}]"
    return json.dumps([agency_id, report_id], separators=(",", ":"), ensure_ascii=False)


def case_id_of(dedup: str) -> str:
    """The case id of the report whose `dedup_key` is `dedup`."""
    return "case-" + uuid5_text(CASE_NAMESPACE, dedup)


def case_id_for(agency_id: str, report_id: str) -> str:
    """Deterministic case id: a replayed report gets the same id, so downstream dedup holds."""
    return case_id_of(dedup_key(agency_id, report_id))


def check_agency(raw: dict[str, Any], agency: str | None) -> None:
    """Refuse a report whose agency_id is not the agency its topic belongs to (None: no topic agency)."""
    if agency is not None and raw.get("agency_id") != agency:
        raise AgencyMismatchError(
            "agency_id is not the agency whose intake topic carried the report: an agency reports only "
            "under its own id, on its own topic (config/agencies.yaml)",
            field="agency_id",
        )


@dataclass(frozen=True)
class OfCase:
    """An outcome for a report that is, or already was, case `case_id`."""

    case_id: str


@dataclass(frozen=True)
class Accepted(OfCase):
    """A new case to emit; `Intake.remember` it once it is sent."""

    case: dict[str, Any]
    dedup: str


class Duplicate(OfCase):
    """The report was accepted before; nothing to emit."""


@dataclass(frozen=True)
class Rekey:
    """The report arrived under another key; re-produce it under `key` so dedup is partition-local."""

    key: bytes


Outcome = Accepted | Duplicate | Rekey


def accepted_time(timestamp_ms: int | None, broker_time: bool, now_ms: int) -> int:
    """When the bus took a report: the broker's append stamp of its record, else (a producer's stamp) the clock.

    The broker's stamp is the same each time the record is read, so a report replayed after a restart or a
    rebalance is judged against the same windows as the first time (the same case, the same referral ids).
    """
    return timestamp_ms if broker_time and timestamp_ms is not None else now_ms


class Intake:
    """Decode, validate, deduplicate, normalise. No Kafka here: the agent is a thin shell."""

    def __init__(self, codec: Codec, seen: MutableMapping[str, str], *, clock_skew_ms: int) -> None:
        self.codec = codec
        self.seen = StagedTable(seen)
        self.clock_skew_ms = clock_skew_ms

    def handle(
        self,
        key: bytes | None,
        value: bytes | None,
        *,
        now_ms: int,
        agency: str | None = None,
        accepted_at: int | None = None,
    ) -> Outcome:
        """Raise a RejectedMessage subclass for bad input; otherwise say what to do.

        `agency` is the agency whose own intake topic carried the message (from the transport), or
        None on the internal shared topic, which no agency may write to. `accepted_at`: when the bus
        took the report (`accepted_time`), the clock's `now_ms` if not given.
        """
        at = now_ms if accepted_at is None else accepted_at
        raw = self.codec.decode(value or b"", "CaseReport")
        check_agency(raw, agency)
        report, sent = accepted_report(raw, now_ms=now_ms, clock_skew_ms=self.clock_skew_ms)
        agency_id, report_id = report["agency_id"], report["report_id"]
        kafka_key = report_key(agency_id, report_id).encode()
        if key != kafka_key:
            return Rekey(kafka_key)
        dkey = dedup_key(agency_id, report_id)
        case_id = self.seen.get(dkey)
        if case_id is not None:
            return Duplicate(case_id)
        case_id = case_id_of(dkey)
        if report["received_at"] is None:
            report["received_at"] = at
        case = {
            "case_id": case_id,
            "accepted_at": at,
            "report": report,
            "linked_reports": [],
            "is_update": False,
            "victim_jurisdiction_as_sent": sent,
        }
        return Accepted(case_id, case, dkey)

    def remember(self, accepted: Accepted) -> None:
        """Count the report as seen: call once its case is emitted (this event's send), not when it waits.

        The mark is visible on this worker at once and durable once the case is on the broker (staged). Marking
        it before the case is sent would lose the case if the worker stopped in between (the replayed report
        would look like a duplicate); so would marking it when the case only waits for its correlation verdict,
        since that verdict may reach a worker without the pending case (one that took over the partition from
        a worker frozen past its session): `remember_report` then marks it with the verdict that emits it.
        At worst the same case (same deterministic case_id) is emitted twice, which downstream deduplication
        absorbs. If the case is not written (the event is dead-lettered, so it can be replayed) the mark is dropped.
        """
        self.seen.write_after_sends(accepted.dedup, accepted.case_id)

    def remember_report(self, agency_id: str, report_id: str) -> None:
        """`remember` for a report whose case a correlation verdict emits (this event's send)."""
        dkey = dedup_key(agency_id, report_id)
        self.seen.write_after_sends(dkey, case_id_of(dkey))

    def emitted(self, agency_id: str, report_id: str) -> bool:
        """Whether the report's case was emitted (its mark is here, staged or durable)."""
        return self.seen.get(dedup_key(agency_id, report_id)) is not None
