"""The fast uuid5 gives exactly `str(uuid.uuid5(...))`; status, case and disclosure ids are the ones it always made."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.ids import uuid5_text
from referral_bus.status import status_record
from referral_domain.disclosure import disclosure_id
from services.intake.accept import case_id_for, dedup_key

_STATUS_NS = uuid.UUID("9e4d2b6a-1f3c-4b7e-8d05-7a2c9e1f4b33")
_CASE_NS = uuid.UUID("6f1c1f8e-7d5e-4a57-9a1e-2f0b8f1c0a11")
_DISCLOSURE_NS = uuid.UUID("5b0c7a52-2f5d-4c1e-9a61-0d1c5e2f7a20")
_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1)


@given(st.uuids(), st.text())
def test_same_as_uuid5(namespace: uuid.UUID, name: str) -> None:
    try:
        expected = str(uuid.uuid5(namespace, name))
    except UnicodeEncodeError:  # a lone surrogate: both refuse it
        with pytest.raises(UnicodeEncodeError):
            uuid5_text(namespace, name)
        return
    assert uuid5_text(namespace, name) == expected


@given(_TEXT, _TEXT, st.none() | _TEXT, _TEXT, st.text(st.characters(blacklist_categories=["Cs"])))
def test_status_ids_unchanged(agency_id: str, report_id: str, case_id: str | None, event: str, step: str) -> None:
    """Readers drop a replayed status event by its id: a replay after the upgrade must repeat the old id."""
    record = status_record(agency_id, report_id, event, 0, case_id=case_id, step=step)
    assert record["status_id"] == str(uuid.uuid5(_STATUS_NS, f"{agency_id}/{report_id}/{case_id}/{event}/{step}"))


@given(_TEXT, _TEXT, _TEXT, _TEXT, _TEXT)
def test_case_and_disclosure_ids_unchanged(
    agency_id: str, report_id: str, referral_id: str, channel: str, purpose: str
) -> None:
    """A replayed report finds its case, a replayed delivery its disclosure: the ids `uuid.uuid5` made before."""
    assert case_id_for(agency_id, report_id) == "case-" + str(uuid.uuid5(_CASE_NS, dedup_key(agency_id, report_id)))
    name = f"{referral_id}/{agency_id}/{channel}/{purpose}/{report_id}"
    assert disclosure_id(referral_id, agency_id, channel, purpose, report_id) == str(uuid.uuid5(_DISCLOSURE_NS, name))
