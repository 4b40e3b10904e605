"""The fast uuid5 gives exactly `str(uuid.uuid5(...))`; status ids are the ones `uuid.uuid5` always made."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.ids import uuid5_text
from referral_bus.status import status_record

_STATUS_NS = uuid.UUID("9e4d2b6a-1f3c-4b7e-8d05-7a2c9e1f4b33")
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
