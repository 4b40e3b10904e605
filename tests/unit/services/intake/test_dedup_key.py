"""The dedup key and the case id are the text `json.dumps` made of the pair, whatever the ids hold."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.accept import case_id_for, case_id_of, dedup_key

_CASE_NS = uuid.UUID("6f1c1f8e-7d5e-4a57-9a1e-2f0b8f1c0a11")


class _Text(str):
    """A str subclass: the fast path is for exact str only."""


def _former(agency_id: Any, report_id: Any) -> str:
    return json.dumps([agency_id, report_id], separators=(",", ":"), ensure_ascii=False)


_ANY_TEXT = st.text(st.characters(blacklist_categories=[]), max_size=40)  # surrogates, controls, quotes, non-ASCII
_ODD = st.none() | st.integers() | st.booleans() | st.lists(st.text(max_size=3), max_size=2) | _ANY_TEXT.map(_Text)


@given(_ANY_TEXT, _ANY_TEXT)
def test_the_same_text_as_json_dumps(agency_id: str, report_id: str) -> None:
    """A report replayed after the upgrade finds its dedup mark: the key is the text written before."""
    assert dedup_key(agency_id, report_id) == _former(agency_id, report_id)


@given(_ANY_TEXT | _ODD, _ANY_TEXT | _ODD)
def test_anything_else_as_json_dumps(agency_id: Any, report_id: Any) -> None:
    """Ids that are not exact str (a legacy restart's case is any JSON): json.dumps's text or its error."""
    try:
        expected = _former(agency_id, report_id)
    except TypeError:
        with pytest.raises(TypeError):
            dedup_key(agency_id, report_id)
        return
    assert dedup_key(agency_id, report_id) == expected


@pytest.mark.parametrize(
    ("agency_id", "report_id"),
    [
        ("a/b", "c"),
        ("a", "b/c"),
        ('q"uote', "back\\slash"),
        ("tab\there", "line\nfeed"),
        ("đà-nẵng", "報告-1"),
        ("\x00\x1f\x7f", "\u2028\u2029"),
        ("\ud800", "x"),
    ],
)
def test_examples(agency_id: str, report_id: str) -> None:
    assert dedup_key(agency_id, report_id) == _former(agency_id, report_id)


@given(_ANY_TEXT, _ANY_TEXT)
def test_case_id_of_the_dedup_key(agency_id: str, report_id: str) -> None:
    """`case_id_of(dedup_key(...))` is `case_id_for(...)`, the uuid5 of the former key (encodable text only)."""
    try:
        expected = "case-" + str(uuid.uuid5(_CASE_NS, _former(agency_id, report_id)))
    except UnicodeEncodeError:  # a lone surrogate: both refuse it
        with pytest.raises(UnicodeEncodeError):
            case_id_for(agency_id, report_id)
        return
    assert case_id_for(agency_id, report_id) == expected
    assert case_id_of(dedup_key(agency_id, report_id)) == expected
