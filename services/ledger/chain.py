"""The ledger's hash chain: building entries (one writer per partition) and verifying a partition's entries.

Each entry's digest covers the previous entry's digest and every field of its own, so an edited,
deleted, inserted or reordered entry breaks the chain at its position; every `checkpoint_every`
entries the writer appends a CHECKPOINT signed (HMAC-SHA256) with the ledger key, which a forger
without the key cannot make, and an anchor (a head seen earlier) catches a truncated tail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from referral_domain.disclosure import canonical

GENESIS = "0" * 64
DISCLOSURE = "DISCLOSURE"
ERASURE = "ERASURE"
CHECKPOINT = "CHECKPOINT"
_CHECKPOINT_NS = uuid.UUID("9d3c2b8e-61a4-4f0b-8f2e-7a1c3d5e9b40")


@dataclass(frozen=True)
class Head:
    """The last entry of a partition's chain: its seq and digest (seq -1 and GENESIS before the first)."""

    seq: int = -1
    digest: str = GENESIS

    def as_dict(self) -> dict[str, Any]:
        """For the writer's changelogged table."""
        return {"seq": self.seq, "digest": self.digest}

    @classmethod
    def of(cls, value: dict[str, Any] | None) -> Head:
        """From the table value (None: an empty chain)."""
        return cls() if not value else cls(int(value["seq"]), str(value["digest"]))


def entry_digest(entry: dict[str, Any]) -> str:
    """sha256 over prev_digest and the canonical JSON of every other field but digest."""
    covered = {k: entry.get(k) for k in ("partition", "seq", "kind", "entry_id", "case_id", "fact", "at", "signature")}
    return hashlib.sha256(entry["prev_digest"].encode("ascii") + b"|" + canonical(covered)).hexdigest()


def signature(key: bytes, partition: int, seq: int, prev_digest: str) -> str:
    """A checkpoint's HMAC-SHA256 over its partition, seq and the digest of the chain before it."""
    return hmac.new(key, f"{partition}:{seq}:{prev_digest}".encode("ascii"), hashlib.sha256).hexdigest()


class Fact(NamedTuple):
    """What one entry records: its kind, its id, the case (None for a checkpoint), the fact itself and when."""

    kind: str
    entry_id: str
    case_id: str | None
    fact: dict[str, Any]
    at: int


def entry(head: Head, partition: int, fact: Fact, *, key: bytes | None = None) -> dict[str, Any]:
    """The next entry after `head` (a CHECKPOINT is signed with `key`)."""
    seq = head.seq + 1
    out: dict[str, Any] = {
        "partition": partition,
        "seq": seq,
        "kind": fact.kind,
        "entry_id": fact.entry_id,
        "case_id": fact.case_id,
        "fact": canonical(fact.fact).decode("utf-8"),
        "at": fact.at,
        "prev_digest": head.digest,
        "signature": signature(key, partition, seq, head.digest) if fact.kind == CHECKPOINT and key else None,
    }
    out["digest"] = entry_digest(out)
    return out


def append(head: Head, partition: int, fact: Fact, *, key: bytes | None, checkpoint_every: int) -> list[dict[str, Any]]:
    """The entries to append for one fact: the fact, then a signed checkpoint when one is due."""
    first = entry(head, partition, fact)
    out = [first]
    if key and checkpoint_every > 0 and (first["seq"] + 2) % checkpoint_every == 0:
        after = Head(first["seq"], first["digest"])
        cp_id = str(uuid.uuid5(_CHECKPOINT_NS, f"{partition}/{after.seq + 1}"))
        out.append(entry(after, partition, Fact(CHECKPOINT, cp_id, None, {}, fact.at), key=key))
    return out


@dataclass(frozen=True)
class Problem:
    """One finding of `verify`: where (partition, topic offset, seq) and what."""

    partition: int
    offset: int | None
    seq: int | None
    kind: str  # edited, gap, reordered, inserted, broken, forged_checkpoint, unsigned_checkpoint, truncated, misplaced
    message: str

    def __str__(self) -> str:
        where = f"partition {self.partition} offset {self.offset if self.offset is not None else '-'} seq {self.seq}"
        return f"{where}: {self.kind}: {self.message}"


def verify(
    partition: int,
    entries: Iterable[tuple[int | None, dict[str, Any]]],
    *,
    key: bytes | None,
    anchor: Head | None = None,
    from_start: bool = True,
) -> list[Problem]:
    """Every break in one partition's chain, given (offset, entry) in topic order; [] when intact.

    `anchor`: a head seen earlier (the writer's head table, a saved `audit verify` output): the chain
    must reach it with that digest, or its tail was cut or rewritten. `from_start=False` accepts a
    chain whose first entries were removed by retention (it then starts at whatever seq it has).
    """
    problems: list[Problem] = []
    expected = Head() if from_start else None
    by_seq: dict[int, str] = {}
    last: Head | None = None

    def problem(offset: int | None, e: dict[str, Any] | None, kind: str, message: str) -> None:
        problems.append(Problem(partition, offset, e.get("seq") if e else None, kind, message))

    for offset, e in entries:
        seq = e.get("seq")
        if e.get("partition") != partition:
            problem(offset, e, "misplaced", f"entry of partition {e.get('partition')} in partition {partition}")
        if entry_digest(e) != e.get("digest"):
            problem(offset, e, "edited", "the entry's content does not match its digest")
        elif expected is not None and e.get("prev_digest") != expected.digest:
            if isinstance(seq, int) and seq > expected.seq + 1:
                problem(offset, e, "gap", f"entries {expected.seq + 1}..{seq - 1} are missing (deleted)")
            elif isinstance(seq, int) and seq <= expected.seq:
                kind = "inserted" if seq in by_seq else "reordered"
                problem(offset, e, kind, f"seq {seq} after seq {expected.seq}: out of place")
            else:
                problem(offset, e, "broken", f"does not follow the entry before it (seq {expected.seq})")
        elif expected is not None and seq != expected.seq + 1:
            problem(offset, e, "reordered", f"seq {seq} where {expected.seq + 1} belongs")
        if e.get("kind") == CHECKPOINT:
            sig = e.get("signature")
            if key is None:
                pass  # nothing to check a signature with (the report says so once)
            elif not sig:
                problem(offset, e, "unsigned_checkpoint", "a checkpoint without a signature")
            elif not hmac.compare_digest(str(sig), signature(key, partition, int(seq or 0), str(e.get("prev_digest")))):
                problem(offset, e, "forged_checkpoint", "the checkpoint's signature is not the ledger key's")
        if isinstance(seq, int):
            by_seq.setdefault(seq, str(e.get("digest")))
            if expected is None or seq > expected.seq:  # an entry out of place does not move the chain back
                expected = Head(seq, str(e.get("digest")))
                last = expected
    if anchor is not None and anchor.seq >= 0:
        if last is None or last.seq < anchor.seq:
            have = -1 if last is None else last.seq
            problems.append(
                Problem(
                    partition,
                    None,
                    anchor.seq,
                    "truncated",
                    f"the chain ends at seq {have}; an earlier head reached seq {anchor.seq}",
                )
            )
        elif by_seq.get(anchor.seq) != anchor.digest:
            problems.append(
                Problem(
                    partition,
                    None,
                    anchor.seq,
                    "rewritten",
                    f"seq {anchor.seq} no longer has the digest an earlier head recorded",
                )
            )
    return problems


def fact_of(e: dict[str, Any]) -> dict[str, Any]:
    """The entry's fact, parsed."""
    value = json.loads(e.get("fact") or "{}")
    return value if isinstance(value, dict) else {}
