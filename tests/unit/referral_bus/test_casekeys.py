"""The key table's copies: an opened (redacted) copy resealed for the inbox opens again, and not once erased."""

from __future__ import annotations

import json
from typing import Any

import pytest

from referral_bus.casecrypt import CaseKeyError, wrap
from referral_bus.casekeys import CaseKeys, CaseKeyUnavailableError, sealed

KEK = b"k" * 32
NAME = "PIIMARK-name"


def redacted() -> dict[str, Any]:
    """A document's case as the notifier redacts it: no case_id, some personal fields, the facts."""
    return {"report": {"category": "SEXTORTION", "victim": {"name": NAME, "age_band": "AGE_16_17"}}}


def keys_with(case_id: str) -> CaseKeys:
    keys = CaseKeys(KEK, wait_seconds=0.05)
    keys.record(case_id, wrap(KEK, case_id, b"d" * 32).encode("ascii"))
    return keys


async def test_a_resealed_copy_opens_with_the_key_and_is_withheld_after_erasure() -> None:
    keys = keys_with("case-1")
    kept = keys.reseal("case-1", redacted())
    assert sealed(kept) and NAME not in json.dumps(kept) and kept["report"]["category"] == "SEXTORTION"
    assert await keys.open_copy("case-1", kept) == redacted()
    with pytest.raises(CaseKeyError):  # bound to its case: it opens under no other
        await keys_with("case-2").open_copy("case-2", kept)
    keys.record("case-1", None)  # erased
    opened = await keys.open_copy("case-1", kept)
    assert opened["report"]["victim"]["name"] is None and opened["report"]["category"] == "SEXTORTION"


async def test_without_a_key_a_copy_stays_as_it_is_and_a_sealed_one_waits() -> None:
    keys = CaseKeys(KEK, wait_seconds=0.05)
    assert keys.reseal("case-9", redacted()) == redacted()  # not sealed here: nothing to seal with
    assert await keys.open_copy("case-9", redacted()) == redacted()
    with pytest.raises(CaseKeyUnavailableError):
        await keys.open_copy("case-1", keys_with("case-1").reseal("case-1", redacted()))
