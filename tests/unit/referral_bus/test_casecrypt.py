"""Per-case encryption: sealed fields open with their case's key only; without the key they are withheld."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.casecrypt import (
    CaseKeyError,
    decrypt_personal,
    encrypt_personal,
    is_sealed,
    new_key,
    unwrap,
    wrap,
)
from referral_bus.contracts import contracts, pii_paths

PATHS = tuple(pii_paths(contracts().current["Case"].expanded))


def case(values: dict[str, Any]) -> dict[str, Any]:
    """A Case-shaped document with the given personal values and some non-personal facts."""
    return {
        "case_id": "case-1",
        "report": {
            "category": "SEXTORTION",
            "victim": {"age_band": "AGE_16_17", "name": values.get("name"), "contact": values.get("contact")},
            "offender": {"country": "PH", "ip_address": values.get("ip")},
            "narrative": values.get("narrative"),
            "content_urls": values.get("urls", []),
            "platform": values.get("platform"),
        },
    }


texts = st.one_of(st.none(), st.text(min_size=1, max_size=40))
values = st.fixed_dictionaries(
    {
        "name": texts,
        "contact": texts,
        "ip": texts,
        "narrative": texts,
        "platform": texts,
        "urls": st.lists(st.text(min_size=1, max_size=30), max_size=3),
    }
)


@settings(max_examples=50, deadline=None)
@given(values)
def test_sealed_fields_round_trip_and_hide_every_value(v: dict[str, Any]) -> None:
    key, doc = new_key(), case(v)
    sealed = encrypt_personal(doc, "case-1", key, PATHS)
    r = sealed["report"]
    for value in [
        r["victim"]["name"],
        r["victim"]["contact"],
        r["offender"]["ip_address"],
        r["narrative"],
        r["platform"],
        *r["content_urls"],
    ]:
        assert value is None or is_sealed(value)  # every personal value sealed, none left in clear
    assert sealed["report"]["category"] == "SEXTORTION" and sealed["report"]["offender"]["country"] == "PH"
    assert decrypt_personal(sealed, "case-1", key, PATHS) == doc
    assert encrypt_personal(sealed, "case-1", key, PATHS) == sealed  # sealing twice changes nothing


def test_without_the_key_the_personal_fields_are_withheld_and_the_facts_remain() -> None:
    doc = case({"name": "PIIMARK-name", "contact": "c", "urls": ["https://x.invalid/a"], "platform": "P"})
    sealed = encrypt_personal(doc, "case-1", new_key(), PATHS)
    erased = decrypt_personal(sealed, "case-1", None, PATHS)
    assert erased["report"]["victim"] == {"age_band": "AGE_16_17", "name": None, "contact": None}
    assert erased["report"]["content_urls"] == [] and erased["report"]["platform"] is None
    assert erased["report"]["category"] == "SEXTORTION"
    assert "PIIMARK" not in json.dumps(erased)


def test_a_sealed_value_opens_only_for_its_case_field_and_key() -> None:
    key = new_key()
    sealed = encrypt_personal(case({"name": "n"}), "case-1", key, PATHS)
    with pytest.raises(CaseKeyError, match=r"report\.victim\.name"):
        decrypt_personal(sealed, "case-2", key, PATHS)  # moved to another case
    with pytest.raises(CaseKeyError):
        decrypt_personal(sealed, "case-1", new_key(), PATHS)
    moved = json.loads(json.dumps(sealed))
    moved["report"]["victim"]["contact"] = moved["report"]["victim"]["name"]  # moved to another field
    with pytest.raises(CaseKeyError, match=r"report\.victim\.contact"):
        decrypt_personal(moved, "case-1", key, PATHS)
    assert is_sealed(sealed["report"]["victim"]["name"]) and not is_sealed("plain")


def test_the_wrapped_key_opens_with_the_kek_for_its_case_only() -> None:
    kek, key = new_key(), new_key()
    wrapped = wrap(kek, "case-1", key)
    assert unwrap(kek, "case-1", wrapped) == key
    with pytest.raises(CaseKeyError):
        unwrap(kek, "case-2", wrapped)
    with pytest.raises(CaseKeyError):
        unwrap(new_key(), "case-1", wrapped)


@settings(max_examples=50, deadline=None)
@given(values, st.booleans())
def test_sealing_and_opening_never_write_the_document_given(v: dict[str, Any], erased: bool) -> None:
    """The copies share what no personal path touches, so the caller's document must stay as it was."""
    key, doc = new_key(), case(v)
    doc["report"]["content_hashes"] = [{"algorithm": "sha256", "value": "ab" * 32}]  # not personal: shared
    before = json.loads(json.dumps(doc))
    sealed = encrypt_personal(doc, "case-1", key, PATHS)
    assert doc == before
    kept = json.loads(json.dumps(sealed))
    opened = decrypt_personal(sealed, "case-1", None if erased else key, PATHS)
    assert sealed == kept and doc == before
    assert opened["report"]["content_hashes"] == before["report"]["content_hashes"]
