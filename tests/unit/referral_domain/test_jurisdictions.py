"""Viet Nam's 63 former province codes: each maps to exactly one of the 34 units (Resolution 202/2025/QH15)."""

from __future__ import annotations

from referral_domain import jurisdictions
from tests.support.jurisdictions import FORMER


def test_the_data_file_maps_all_63_former_codes_as_the_resolution_says() -> None:
    import pycountry

    former = jurisdictions.vn_former_codes()
    assert len(FORMER) == 63
    # pycountry (ISO 3166-2 before the 2025 change) lists exactly these 63 codes
    assert set(FORMER) == {s.code for s in pycountry.subdivisions.get(country_code="VN")}
    assert former == FORMER
    units = jurisdictions.vn_units()
    assert len(units) == 34 and set(former.values()) == set(units)
    unchanged = [u for u in units if list(former.values()).count(u) == 1]
    assert len(unchanged) == 11 and all(former[u] == u for u in unchanged)


def test_current_unit_of_other_codes() -> None:
    assert jurisdictions.current_unit(" fr ") == "FR"
    assert jurisdictions.current_unit("US-CA") == "US-CA"
    assert jurisdictions.current_unit("VN-60") is None
    assert jurisdictions.current_unit("XX") is None
    # configuration (directory, rules) still accepts only current codes
    assert not jurisdictions.is_known("VN-57")


