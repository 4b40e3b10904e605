"""Routing's ids are the ones `uuid.uuid5` always made (the fast uuid5 itself: tests/unit/referral_bus/test_ids.py)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.routing.decisions import referral_id_for
from services.routing.linked import linked_decision_id, linked_referral_id

_NS = uuid.UUID("0b9d7c2e-52c4-4d3e-8a8e-7f6a4b1f3c21")
_LINKED_NS = uuid.UUID("0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d")


_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1)


@given(_TEXT, _TEXT, _TEXT, _TEXT)
def test_routing_ids_unchanged(case_id: str, recipient_id: str, agency_id: str, report_id: str) -> None:
    """The ids routing has always made (replays of old cases must find the same referral ids)."""
    assert referral_id_for(case_id, recipient_id) == "ref-" + str(uuid.uuid5(_NS, f"{case_id}/{recipient_id}"))
    assert linked_referral_id(case_id, recipient_id, agency_id, report_id) == "ref-" + str(
        uuid.uuid5(_LINKED_NS, f"{case_id}/{recipient_id}/{agency_id}/{report_id}")
    )
    assert linked_decision_id(case_id, "v1", agency_id, report_id) == "dec-" + str(
        uuid.uuid5(_LINKED_NS, f"{case_id}@v1/{agency_id}/{report_id}")
    )


def test_known_referral_id() -> None:
    """A fixed value, computed on main before the change."""
    assert referral_id_for("case-1", "vn-police-hn") == "ref-b4989982-417a-532c-86e0-becef4ca0ff5"
