"""`deadletter list|replay` on truncated dead letters: marked, not replayed from the letter, matched by digest."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from referral_bus.codec import Codec
from referral_bus.deadletter import dead_letter, fit
from referral_bus.errors import UndecodableError
from referral_bus.message import SourceMessage
from referral_cli.commands.deadletter import _matches, table, truncation_note

ORIGINAL = b"\x01" * 50_000


def truncated_letter() -> dict[str, Any]:
    source = SourceMessage("ns.referrals.intake.v1", 2, 77, b"k", ORIGINAL, (("h", b"v"),))
    encode = functools.partial(Codec(schema_registry=None).encode, "DeadLetter")
    record, _ = fit(dead_letter(source, "intake", UndecodableError("not Avro")), encode, 20_000)
    return record


def test_a_truncated_letter_says_why_it_cannot_be_replayed_and_how_to() -> None:
    letter = truncated_letter()
    note = truncation_note(letter)
    assert note is not None
    assert "original_value (kept" in note and "of 50000 bytes" in note
    assert "ns.referrals.intake.v1/2@77" in note
    assert f"deadletter replay --id {letter['dead_letter_id']} --from-source" in note
    assert truncation_note({**letter, "truncated": []}) is None


def test_list_marks_a_truncated_letter() -> None:
    letter = truncated_letter()
    rows = table([letter, {**letter, "truncated": []}])
    assert "[original truncated] not Avro" in rows[1] and "[original truncated]" not in rows[2]


def test_only_the_record_the_letter_was_cut_from_matches() -> None:
    letter = truncated_letter()
    assert letter["truncated"][0]["sha256"] == hashlib.sha256(ORIGINAL).hexdigest()
    assert _matches(letter, b"k", ORIGINAL)
    assert not _matches(letter, b"k", ORIGINAL + b"x")
    assert not _matches(letter, b"k", None)
