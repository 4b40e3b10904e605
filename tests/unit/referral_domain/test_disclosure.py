"""Disclosure records: field paths (never values), the digest of the exact bytes, deterministic ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.codec import Codec
from referral_domain import disclosure

leaf = st.one_of(st.text(min_size=1, max_size=12), st.integers(), st.booleans())
docs = st.recursive(
    st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), leaf, max_size=4),
    lambda inner: st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), inner, max_size=4),
    max_leaves=20,
)


def referral() -> dict[str, Any]:
    return {
        "referral_id": "r-1",
        "case_id": "case-1",
        "recipient_id": "police-x",
        "decision_id": "dec-1",
        "case": {"report": {"agency_id": "hotline", "report_id": "R-9"}},
    }


def record(**changes: Any) -> dict[str, Any]:
    """`disclosure.record` of `referral()`: an empty document sent by webhook, with `changes` to those arguments."""
    args: dict[str, Any] = {
        "channel": "webhook",
        "purpose": "referral",
        "data_profile": "x",
        "profile_version": "y",
        "document": {},
        "payload": b"",
        "at": 1,
    }
    return disclosure.record(referral(), **(args | changes))


def test_paths_of_the_document_sent_and_no_values() -> None:
    doc = {
        "referral_id": "r-1",
        "case": {"report": {"victim": {"contact": "SECRET-VALUE", "name": None}, "content_urls": [], "tags": ["x"]}},
    }
    assert disclosure.field_paths(doc) == ["case.report.tags", "case.report.victim.contact", "referral_id"]


@given(docs)
def test_paths_name_every_value_and_hold_none(doc: dict[str, Any]) -> None:
    paths = disclosure.field_paths(doc)
    assert paths == sorted(set(paths))
    for path in paths:
        node: Any = doc
        for part in path.split("."):
            node = node[part]
        assert node is not None and not isinstance(node, dict)


def test_the_record_encodes_and_carries_the_digest_of_the_bytes() -> None:
    payload = json.dumps({"a": 1}).encode()
    rec = record(
        data_profile="need_to_know",
        profile_version="abc",
        document={"case": {"report": {"category": "SEXTORTION"}}},
        payload=payload,
        at=1,
        safeguards_version="s1",
    )
    assert rec["payload_digest"] == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert (rec["agency_id"], rec["report_id"], rec["fields"]) == ("hotline", "R-9", ["case.report.category"])
    assert Codec().decode(Codec().encode("Disclosure", rec), "Disclosure") == rec
    again = record(at=2)  # another profile, document, payload and time
    assert again["disclosure_id"] == rec["disclosure_id"]  # the same delivery replayed is the same disclosure


def test_an_unknown_channel_or_purpose_is_refused() -> None:
    with pytest.raises(ValueError, match="channel must be one of"):
        record(channel="fax")


def test_the_last_marker_of_a_referral_names_its_purpose() -> None:
    from services.notifier.sla import ESCALATION_RULE
    from services.routing.reroute import REROUTE_RULE, TRANSFER_RULE, UNCOVERED_RULE

    assert disclosure.purpose_of(["r1"]) == "referral"
    assert disclosure.purpose_of(None) == "referral"
    assert disclosure.purpose_of(["r1", ESCALATION_RULE]) == "escalation"
    for rule in (REROUTE_RULE, TRANSFER_RULE, UNCOVERED_RULE):  # the names the makers really append
        assert disclosure.purpose_of(["r1", rule]) == "reroute"
        assert disclosure.purpose_of(["r1", rule, ESCALATION_RULE]) == "escalation"  # an escalation of a re-route
        assert disclosure.purpose_of(["r1", ESCALATION_RULE, rule]) == "reroute"


def test_an_occurrence_makes_a_new_disclosure_and_none_keeps_replays_one() -> None:
    def view(occurrence: str = "") -> str:
        return str(record(channel="inbox", purpose="view", occurrence=occurrence)["disclosure_id"])

    assert view() == view()
    assert len({view("s1:1"), view("s1:2"), view()}) == 3


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None, categories=None)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


def _dumped(value: Any) -> tuple[str, Any]:
    try:
        return "bytes", json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except Exception as exc:  # the same refusal is part of what must not change
        return "error", type(exc).__name__


@given(_JSON)
def test_canonical_is_json_dumps_with_its_arguments(value: Any) -> None:
    try:
        got: tuple[str, Any] = ("bytes", disclosure.canonical(value))
    except Exception as exc:  # compared with json.dumps' own refusal
        got = ("error", type(exc).__name__)
    assert got == _dumped(value)


def _cyclic_dict() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["a"] = d
    return d


def _cyclic_list() -> list[Any]:
    x: list[Any] = []
    x.append(x)
    return x


@pytest.mark.parametrize("make", [_cyclic_dict, _cyclic_list])
def test_canonical_refuses_a_cyclic_value_without_the_circular_check(make: Any) -> None:
    with pytest.raises(RecursionError):  # json.dumps: ValueError; either way nothing is encoded
        disclosure.canonical(make())
