"""Correlation: reports from different agencies about the same content join one case.

Why a topic of its own: Faust tables are partitioned like the stream that writes them, and the
intake topic is keyed by `agency_id/report_id`, so "who saw this hash before?" is not a local
question there. Accepted reports therefore travel through the correlation topic keyed by content
key (see content.py), whose agent owns the table content key → Entry for its partitions.

Protocol for a report with content keys k0..kn-1 (deterministic order). No message of the
correlation topic carries the case: hops carry the report's identity, its content keys (digests) and
the match found so far; the case waits, encoded, in intake's `pending` table on the report's partition.

1. intake keeps the accepted case in `pending` (durable with the report's event) and sends the first hop;
2. lookup hops: the report visits k0, k1, ... in turn (one message per hop, keyed by that key);
   each hop only reads its table and carries forward the first live match from another agency;
3. the last hop sends a verdict (ids and digests) to the verdicts topic, keyed like the report, so it
   comes back to the partition whose `pending` table holds the case;
4. there intake emits the case (no match: the report's own Case; a match: a Case event for the EXISTING
   case id with `is_update` true and `linked_reports` naming the new report), then sends a claim for
   every key to its own partition, then drops the pending case;
5. a claim takes a key only when no live entry holds it, and only while the claiming agency is under its
   daily claim limit on that partition (config/agencies.yaml `correlation_claims_per_day`): one agency
   cannot pre-claim other agencies' content en masse.

At-least-once: a replayed hop repeats the same reads and decision (the case id is deterministic, the
window is measured on intake's `accepted_at` carried in the message, not on the clock of the hop; that
is the broker's append stamp of the report's record, the same when the report itself is read again, and
entries are kept INTAKE_REPLAY_GRACE_SECONDS past the window so a late reading still finds them), so
at worst the same Case event is emitted twice, which downstream deduplication absorbs; a verdict whose
case is no longer pending (already emitted) is a duplicate and does nothing. So is a verdict whose case
was kept pending by a worker frozen past its session (its write not in this worker's recovered table):
the report is then still unmarked (intake marks it seen when its Case is emitted) and its replay, which
the zombie could not commit, decides it again.
Known limit: two first reports of new content from different agencies arriving within one correlation
round trip of each other both see no entry and open two cases: the failure errs towards a duplicate
notification, never a missed one.
Here (INTAKE_LOCAL_CORRELATION): when the worker holding the report also holds every key's partition,
`decide_here` makes the same reads, the same decision and the same claims at once, each claim written in
its key's changelog partition (not the report's), and nothing travels; the hop path stays for the rest.
The known limit above then also covers a claim another worker sent to a partition this worker holds
and that its correlation agent has not consumed yet: a report decided here in that moment misses it.
Entries expire (INTAKE_CORRELATION_WINDOW_HOURS plus the replay grace after their last write): app.py declares the table
with an expiry, and the worker tombstones expired entries (referral_bus/expiry.py).
The daily claim limit is counted in the entries themselves (`claim_no`, quotas.py): one changelog record
per claimed key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from referral_bus.errors import ProcessingError
from referral_bus.staged import StagedTable
from services.intake.accept import report_key
from services.intake.content import ContentKey, MatchedOn, content_keys
from services.intake.quotas import CLAIM_NO, ClaimQuotas, quota_of

_CASE_KEYS = frozenset({"case_id", "accepted_at", "report"})


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

    def to_json(self) -> dict[str, Any]:
        """The table's JSON value (`dataclasses.asdict` without its recursive deep copy: 5 µs a claim)."""
        return {
            "case_id": self.case_id,
            "first_seen_ms": self.first_seen_ms,
            "agency_id": self.agency_id,
            "report_id": self.report_id,
        }


@dataclass(frozen=True)
class Match:
    """A live entry of another agency that a report's content key hit."""

    entry: Entry
    matched_on: MatchedOn


@dataclass(frozen=True)
class Send:
    """One record to send: `value` under `key`; the subclass names the topic."""

    key: bytes
    value: bytes


class Forward(Send):
    """To the correlation topic: the next lookup hop, the first one, or a claim."""


class Verdict(Send):
    """The lookups are done: to the verdicts topic, under the report's own key."""


@dataclass(frozen=True)
class Restart:
    """A legacy hop's case back on its report's partition: keep it pending and start the hops again."""

    case: dict[str, Any]


@dataclass(frozen=True)
class Decided:
    """Emit `case` to the cases topic, then send `claims` to the correlation topic."""

    case_id: str
    case: dict[str, Any]
    linked: bool
    claims: list[Forward]


@dataclass(frozen=True)
class Claim:
    """A claim message for a key this partition owns: apply with `Correlator.claim(local, partition)`."""

    local: list[tuple[str, Entry]]


Step = Forward | Verdict | Claim


# json.dumps with these arguments builds this encoder on every call; it keeps no state between calls
_HOP_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def _dumps(obj: dict[str, Any]) -> bytes:
    """`json.dumps(obj, separators=(",", ":"), sort_keys=True)` as UTF-8, with the encoder built once."""
    return _HOP_JSON.encode(obj).encode("utf-8")


def _loads(value: bytes | None, what: str) -> dict[str, Any]:
    try:
        msg = json.loads(value or b"")
    except ValueError:
        raise ProcessingError(f"{what} is not JSON") from None
    if not isinstance(msg, dict):
        raise ProcessingError(f"{what} is not an object")
    return msg


@dataclass(frozen=True)
class Lookup:
    """What a hop carries: the report's identity, its content keys and the match so far (no case)."""

    case_id: str
    agency_id: str
    report_id: str
    accepted_at: int
    keys: list[ContentKey]
    step: int
    match: Match | None

    def body(self, kind: str) -> dict[str, Any]:
        """The JSON of a hop (`lookup`) or of the verdict (`verdict`): ids, digests and the match only."""
        return {
            "kind": kind,
            "case_id": self.case_id,
            "agency_id": self.agency_id,
            "report_id": self.report_id,
            "accepted_at": self.accepted_at,
            "keys": [[k.digest, k.matched_on] for k in self.keys],
            "step": self.step,
            "match": {"entry": self.match.entry.to_json(), "on": self.match.matched_on} if self.match else None,
        }

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> Lookup:
        """From a hop or verdict message; a processing error when a field is missing or out of range."""
        try:
            keys = [ContentKey(str(d), "url" if on == "url" else "hash") for d, on in msg["keys"]]
            match = msg.get("match")
            found = Match(Entry.from_json(match["entry"]), "url" if match["on"] == "url" else "hash") if match else None
            out = cls(
                str(msg["case_id"]),
                str(msg["agency_id"]),
                str(msg["report_id"]),
                int(msg["accepted_at"]),
                keys,
                int(msg["step"]),
                found,
            )
        except (KeyError, TypeError, ValueError):
            raise ProcessingError("correlation message lacks a required field") from None
        if not 0 <= out.step < len(out.keys):
            raise ProcessingError("correlation message has a step outside its keys")
        return out


def _outcome(case: dict[str, Any], found: Match | None) -> tuple[dict[str, Any], Entry]:
    """The case to emit for a report and the match its lookups found, and the entry its claims carry."""
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
    return out, Entry(out["case_id"], case["accepted_at"], report["agency_id"], report["report_id"])


def per_partition(limit_per_day: int, partitions: int) -> int:
    """An agency's daily claim limit on one correlation partition (0: it never claims).

    Twice its even share (content keys are uniform hashes), so an agency near its limit is not cut short
    by an uneven spread over partitions.
    """
    if limit_per_day <= 0:
        return 0
    return max(1, -(-2 * limit_per_day // max(1, partitions)))


class Correlator:
    """The correlation decisions; no Kafka here (the agent in app.py is a thin shell).

    `claim_limit(agency_id)` is how many keys the agency may claim per day on one partition of the
    correlation topic; `quotas` counts them, from the entries' `claim_no` (quotas.py; give the same
    object to the table as its `derived` state, so a restart rebuilds the counts).
    """

    def __init__(
        self,
        table: MutableMapping[str, Any],
        *,
        window_ms: int,
        quotas: ClaimQuotas | None = None,
        claim_limit: Callable[[str], int] | None = None,
    ) -> None:
        self.table = StagedTable(table)
        self.window_ms = window_ms
        self.quotas = ClaimQuotas() if quotas is None else quotas
        self.claim_limit = claim_limit or (lambda _agency: 1 << 62)
        self.refused_claims = 0

    # --- from intake -----------------------------------------------------------------------------------

    def start(self, case: dict[str, Any], *, report: dict[str, Any] | None = None) -> Forward | None:
        """The first lookup hop for an accepted case, or None when it has no hash or URL to match on.

        `report`: the plain report to take the content keys from when `case` travels sealed.
        """
        keys = content_keys(report if report is not None else case["report"])
        if not keys:
            return None
        report = case["report"]
        lookup = Lookup(case["case_id"], report["agency_id"], report["report_id"], case["accepted_at"], keys, 0, None)
        return self._hop(lookup)

    def verdict(self, value: bytes | None) -> Lookup | Restart:
        """A message of the verdicts topic (back on the report's partition): a verdict, or a legacy restart."""
        msg = _loads(value, "correlation verdict")
        if msg.get("kind") == "restart":
            case = msg.get("case")
            if isinstance(case, dict) and isinstance(case.get("report"), dict) and _CASE_KEYS <= set(case):
                return Restart(case)
            raise ProcessingError("correlation restart carries no case")
        if msg.get("kind") != "verdict":
            raise ProcessingError("correlation verdict of unknown kind")
        return Lookup.parse(msg)

    def decide(self, case: dict[str, Any], verdict: Lookup) -> Decided:
        """The case to emit for a pending case and its verdict, and a claim for each of its keys."""
        report = case["report"]
        if (case["case_id"], report["agency_id"], report["report_id"]) != (
            verdict.case_id,
            verdict.agency_id,
            verdict.report_id,
        ):
            raise ProcessingError("correlation verdict does not belong to the pending case it names")
        out, entry = _outcome(case, verdict.match)
        claims = [
            Forward(k.digest.encode(), _dumps({"kind": "claim", "key": k.digest, "entry": entry.to_json()}))
            for k in verdict.keys
        ]
        return Decided(out["case_id"], out, verdict.match is not None, claims)

    # --- here: every content key on a partition this worker holds ----------------------------------------

    def decide_here(self, case: dict[str, Any], keys: list[ContentKey], partition_of: Mapping[str, int]) -> Decided:
        """The hop path's decision made in one step, for keys whose partitions (`partition_of`) this worker holds.

        The same reads in the same order (each key's entry, the first live match from another agency), the
        same case, and the same claims applied at once, each in its key's partition (entry and daily quota),
        as the claim messages would be there. Nothing to send but the case (`claims` is empty).
        """
        case_id, agency_id, accepted_at = case["case_id"], case["report"]["agency_id"], case["accepted_at"]
        match = None
        for key in keys:  # every key's entry is read, as each hop reads its own (a malformed one raises)
            found = self._match(key, case_id, agency_id, accepted_at)
            match = match or found
        out, claimed = _outcome(case, match)
        for k in keys:
            self.claim([(k.digest, claimed)], partition_of[k.digest])
        return Decided(out["case_id"], out, match is not None, [])

    # --- on the correlation topic ----------------------------------------------------------------------

    def handle(self, value: bytes | None) -> Step:
        """One message of the correlation topic: a lookup hop or a claim."""
        msg = _loads(value, "correlation message")
        kind = msg.get("kind")
        if kind == "claim":
            try:
                return Claim([(str(msg["key"]), Entry.from_json(msg["entry"]))])
            except (KeyError, TypeError):
                raise ProcessingError("correlation message lacks a required field") from None
        if kind == "lookup" and isinstance(msg.get("case"), dict):  # written before hops lost the case
            return self._restart(msg["case"])
        if kind == "lookup":
            return self._lookup(Lookup.parse(msg))
        raise ProcessingError("correlation message of unknown kind")

    def _restart(self, case: dict[str, Any]) -> Verdict:
        """A hop of the previous protocol (it carried the case): send the case back to its report's partition.

        There intake keeps it pending and starts the hops again, so a report in flight during the upgrade
        is not lost. Only intake writes the verdicts topic; new hops never carry a case.
        """
        try:
            key = report_key(str(case["report"]["agency_id"]), str(case["report"]["report_id"]))
        except (KeyError, TypeError):
            raise ProcessingError("correlation message lacks a required field") from None
        return Verdict(key.encode(), _dumps({"kind": "restart", "case": case}))

    def live(self, entry: Entry, at_ms: int) -> bool:
        """Whether an entry is within the correlation window at `at_ms`."""
        return at_ms - entry.first_seen_ms < self.window_ms

    def _entry(self, digest: str) -> Entry | None:
        raw = self.table.get(digest)
        return None if raw is None else Entry.from_json(raw)

    def _visit(self, hop: Lookup) -> Lookup:
        """The hop after reading its key: carrying the first live entry of another agency found so far."""
        found = self._match(hop.keys[hop.step], hop.case_id, hop.agency_id, hop.accepted_at)
        return replace(hop, match=found) if hop.match is None and found is not None else hop

    def _match(self, key: ContentKey, case_id: str, agency_id: str, accepted_at: int) -> Match | None:
        """The key's entry when it links the report: another case's, another agency's, live at `accepted_at`."""
        entry = self._entry(key.digest)
        if entry is None or entry.case_id == case_id or entry.agency_id == agency_id:
            return None
        return Match(entry, key.matched_on) if self.live(entry, accepted_at) else None

    def _lookup(self, hop: Lookup) -> Forward | Verdict:
        done = self._visit(hop)
        if hop.step + 1 < len(hop.keys):
            return self._hop(replace(done, step=hop.step + 1))
        return Verdict(report_key(hop.agency_id, hop.report_id).encode(), _dumps(done.body("verdict")))

    def _hop(self, hop: Lookup) -> Forward:
        return Forward(hop.keys[hop.step].digest.encode(), _dumps(hop.body("lookup")))

    def claim(self, local: list[tuple[str, Entry]], partition: int = 0) -> None:
        """Record claims now: a key is taken when no live entry holds it and its agency is under its limit.

        `partition`: the keys' partition of the correlation topic; the entry, with the quota it used
        (`claim_no`), is written in that changelog partition (the claim event's own, or the key's one on
        the worker that holds it): one record per key taken.
        """
        for digest, entry in self._taking(local):
            quota = quota_of(entry.agency_id, entry.first_seen_ms, partition)
            if self.quotas.used(quota) >= self.claim_limit(entry.agency_id):
                self.refused_claims += 1
                continue
            value = {**entry.to_json(), CLAIM_NO: self.quotas.take(quota)}
            self.table.write_now(digest, value, partition)  # in the key's partition, whichever event runs

    def _taking(self, local: list[tuple[str, Entry]]) -> list[tuple[str, Entry]]:
        """The claims that take their key: no live entry holds it (a replayed claim of the same entry is a no-op)."""
        taken = []
        for digest, entry in local:
            current = self._entry(digest)
            if current is None or not self.live(current, entry.first_seen_ms):
                taken.append((digest, entry))
        return taken
