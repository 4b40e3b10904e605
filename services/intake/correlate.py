"""Correlation: reports from different agencies about the same content join one case.

Why a topic of its own: Faust tables are partitioned like the stream that writes them, and the
intake topic is keyed by `agency_id/report_id`, so "who saw this hash before?" is not a local
question there. Accepted reports therefore travel through the correlation topic keyed by content
key (see content.py), whose agent owns the table content key → Entry for its partitions.

Protocol for a report with content keys k0..kn-1 (deterministic order):

1. lookup hops: the report visits k0, k1, ... in turn (one message per hop, keyed by that key);
   each hop only reads its table and carries forward the first live match from another agency;
2. at the last hop the decision is made: no match → the report's own Case (as before correlation);
   a match → a Case event for the EXISTING case id with `is_update` true and `linked_reports`
   naming the new report; the event goes to the cases topic first (broker-acknowledged);
3. claims: then every key not yet held by a live entry is claimed for the resulting case id; the
   last hop's key locally, the others by claim messages to their own partitions.

At-least-once: a replayed hop repeats the same reads and decision (the case id is deterministic, the
window is measured on intake's `accepted_at` carried in the message, not on the clock of the hop), so
at worst the same Case event is emitted twice, which downstream deduplication absorbs.
Known limit: two first reports of new content from different agencies arriving within one hop
latency of each other both see no entry and open two cases: the failure errs towards a duplicate
notification, never a missed one.
Entries expire (INTAKE_CORRELATION_WINDOW_HOURS after their last write): app.py declares the table
with an expiry, and the worker tombstones expired entries (referral_bus/expiry.py).
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

from referral_bus.errors import ProcessingError
from referral_bus.staged import StagedTable
from services.intake.content import ContentKey, MatchedOn, content_keys


@dataclass(frozen=True)
class Entry:
    """Who first claimed a content key (within the window): the case it belongs to, when, and which report."""

    case_id: str
    first_seen_ms: int
    agency_id: str
    report_id: str

    @classmethod
    def from_json(cls, raw: Any) -> Entry:
        """From the table's JSON value (or a claim message)."""
        if not isinstance(raw, dict):
            raise ProcessingError("correlation entry is not an object")
        try:
            return cls(str(raw["case_id"]), int(raw["first_seen_ms"]), str(raw["agency_id"]), str(raw["report_id"]))
        except (KeyError, TypeError, ValueError):
            raise ProcessingError("correlation entry lacks case_id, first_seen_ms, agency_id or report_id") from None


@dataclass(frozen=True)
class Match:
    """A live entry of another agency that a report's content key hit."""

    entry: Entry
    matched_on: MatchedOn


@dataclass(frozen=True)
class Forward:
    """Send `value` to the correlation topic under `key` (the next lookup hop, or the first one)."""

    key: bytes
    value: bytes


@dataclass(frozen=True)
class Decided:
    """Emit `case` to the cases topic, then send `claims`, then `Correlator.claim_after_sends(local)`."""

    case_id: str
    case: dict[str, Any]
    linked: bool
    claims: list[Forward]
    local: list[tuple[str, Entry]]


@dataclass(frozen=True)
class Claim:
    """A claim message for a key this partition owns: apply with `Correlator.claim(local)`."""

    local: list[tuple[str, Entry]]


Step = Forward | Decided | Claim


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")


class Correlator:
    """The correlation decisions; no Kafka here (the agent in app.py is a thin shell)."""

    def __init__(self, table: MutableMapping[str, Any], *, window_ms: int) -> None:
        self.table = StagedTable(table)
        self.window_ms = window_ms

    # --- from intake -----------------------------------------------------------------------------------

    def start(self, case: dict[str, Any], *, report: dict[str, Any] | None = None) -> Forward | None:
        """The first lookup hop for an accepted case, or None when it has no hash or URL to match on.

        `report`: the plain report to take the content keys from when `case` travels sealed.
        """
        keys = content_keys(report if report is not None else case["report"])
        if not keys:
            return None
        return self._hop(case, keys, 0, None)

    # --- on the correlation topic ----------------------------------------------------------------------

    def handle(self, value: bytes | None) -> Step:
        """One message of the correlation topic: a lookup hop or a claim."""
        try:
            msg = json.loads(value or b"")
        except ValueError:
            raise ProcessingError("correlation message is not JSON") from None
        if not isinstance(msg, dict):
            raise ProcessingError("correlation message is not an object")
        kind = msg.get("kind")
        try:
            if kind == "claim":
                return Claim([(str(msg["key"]), Entry.from_json(msg["entry"]))])
            if kind == "lookup":
                case = msg["case"]
                keys = [ContentKey(str(d), "url" if on == "url" else "hash") for d, on in msg["keys"]]
                step = int(msg["step"])
                match = msg.get("match")
                found = Match(Entry.from_json(match["entry"]), match["on"]) if match else None
                if not isinstance(case, dict) or not 0 <= step < len(keys):
                    raise ProcessingError("correlation lookup has no case or a step outside its keys")
                return self._lookup(case, keys, step, found)
        except (KeyError, TypeError, ValueError):
            raise ProcessingError("correlation message lacks a required field") from None
        raise ProcessingError("correlation message of unknown kind")

    def live(self, entry: Entry, at_ms: int) -> bool:
        """Whether an entry is within the correlation window at `at_ms`."""
        return at_ms - entry.first_seen_ms < self.window_ms

    def _entry(self, digest: str) -> Entry | None:
        raw = self.table.get(digest)
        return None if raw is None else Entry.from_json(raw)

    def _lookup(self, case: dict[str, Any], keys: list[ContentKey], step: int, found: Match | None) -> Step:
        report = case["report"]
        key = keys[step]
        entry = self._entry(key.digest)
        if (
            found is None
            and entry is not None
            and entry.case_id != case["case_id"]
            and entry.agency_id != report["agency_id"]
            and self.live(entry, case["accepted_at"])
        ):
            found = Match(entry, key.matched_on)
        if step + 1 < len(keys):
            return self._hop(case, keys, step + 1, found)
        return self._decide(case, keys, found)

    def _hop(self, case: dict[str, Any], keys: list[ContentKey], step: int, found: Match | None) -> Forward:
        body = {
            "kind": "lookup",
            "case": case,
            "keys": [[k.digest, k.matched_on] for k in keys],
            "step": step,
            "match": {"entry": asdict(found.entry), "on": found.matched_on} if found else None,
        }
        return Forward(keys[step].digest.encode(), _dumps(body))

    def _decide(self, case: dict[str, Any], keys: list[ContentKey], found: Match | None) -> Decided:
        report = case["report"]
        if found is None:
            out = case
        else:
            out = {
                **case,
                "case_id": found.entry.case_id,
                "linked_reports": [
                    {"agency_id": report["agency_id"], "report_id": report["report_id"], "matched_on": found.matched_on}
                ],
                "is_update": True,
            }
        entry = Entry(out["case_id"], case["accepted_at"], report["agency_id"], report["report_id"])
        last = keys[-1].digest
        claims = [
            Forward(k.digest.encode(), _dumps({"kind": "claim", "key": k.digest, "entry": asdict(entry)}))
            for k in keys[:-1]
        ]
        return Decided(out["case_id"], out, found is not None, claims, [(last, entry)])

    def claim(self, local: list[tuple[str, Entry]]) -> None:
        """Record claims now: a key is taken only when no live entry holds it (the first report keeps it)."""
        for digest, entry in self._taking(local):
            self.table.write_now(digest, asdict(entry))

    def claim_after_sends(self, local: list[tuple[str, Entry]]) -> None:
        """Record claims visible here at once, durable once the case they point to is on the broker."""
        for digest, entry in self._taking(local):
            self.table.write_after_sends(digest, asdict(entry))

    def _taking(self, local: list[tuple[str, Entry]]) -> list[tuple[str, Entry]]:
        """The claims that take their key: no live entry holds it."""
        taken = []
        for digest, entry in local:
            current = self._entry(digest)
            if current is None or not self.live(current, entry.first_seen_ms):
                taken.append((digest, entry))
        return taken
