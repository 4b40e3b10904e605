"""ISO 3166-1/-2 jurisdiction codes, with Viet Nam's 34 provincial units since 1 July 2025 and the 63 before."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pycountry
import yaml

_VN_FILE = Path(__file__).resolve().parent / "data" / "vn_provinces_2025.yaml"


@cache
def _vn_units() -> dict[str, str]:
    rows = yaml.safe_load(_VN_FILE.read_text(encoding="utf-8"))
    return {row["code"]: row["name"] for row in rows}


@cache
def _vn_former() -> dict[str, str]:
    """Each pre-1-July-2025 code of Viet Nam's 63 provinces → the code of the unit it was merged into."""
    rows = yaml.safe_load(_VN_FILE.read_text(encoding="utf-8"))
    return {old: row["code"] for row in rows for old in row["former"]}


@cache
def _subdivisions() -> frozenset[str]:
    """ISO 3166-2 codes of every country except Viet Nam, whose current units come from our data file."""
    codes = {s.code for s in pycountry.subdivisions if s.country_code != "VN"}
    return frozenset(codes | set(_vn_units()))


@cache
def _countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def normalise(code: str) -> str:
    """Upper-case and trim a code (`vn-hn ` → `VN-HN`)."""
    return code.strip().upper()


def is_country(code: str) -> bool:
    """True for an ISO 3166-1 alpha-2 country code."""
    return normalise(code) in _countries()


def is_known(code: str) -> bool:
    """True for a country code or a current subdivision code."""
    c = normalise(code)
    return c in _countries() or c in _subdivisions()


def current_unit(code: str) -> str | None:
    """The current code for a known code; a former Vietnamese province code gives its merged unit, else None."""
    c = normalise(code)
    if is_known(c):
        return c
    return _vn_former().get(c)


def country_of(code: str) -> str:
    """The country part of a jurisdiction code (`VN-HN` → `VN`, `VN` → `VN`)."""
    return normalise(code).split("-", 1)[0]


def vn_units() -> dict[str, str]:
    """Viet Nam's 34 provincial units: code → name."""
    return dict(_vn_units())


def vn_former_codes() -> dict[str, str]:
    """Viet Nam's 63 provincial codes before 1 July 2025: former code → current unit's code."""
    return dict(_vn_former())
