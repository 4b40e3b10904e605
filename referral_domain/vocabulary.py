"""The CaseReport contract's enumerations as Python types, for models, rules and generators.

The Avro schema (schemas/avro/CaseReport.avsc) is the source of truth; these Literals exist because
type checkers and pydantic need them written out. tests/unit/test_vocabulary.py fails when the two
disagree, so a new symbol is added in one place and the test names the other.
"""

from __future__ import annotations

from typing import Literal, get_args

Category = Literal[
    "OTHER",
    "CSAM",
    "GROOMING",
    "SEXTORTION",
    "LIVE_STREAMED_ABUSE",
    "TRAFFICKING",
    "NON_CONSENSUAL_INTIMATE_IMAGES",
    "SEXUAL_DEEPFAKE",
    "CYBERSTALKING",
    "HARASSMENT",
    "DOXXING",
]
Severity = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "IMMINENT_DANGER"]
Consent = Literal["NOT_ASKED", "GIVEN", "REFUSED", "NOT_REQUIRED_CHILD"]
AgeBand = Literal["UNKNOWN", "UNDER_13", "AGE_13_15", "AGE_16_17", "ADULT"]
Sex = Literal["UNKNOWN", "FEMALE", "MALE", "OTHER"]

CATEGORIES: tuple[str, ...] = get_args(Category)
SEVERITIES: tuple[str, ...] = get_args(Severity)
CONSENTS: tuple[str, ...] = get_args(Consent)
AGE_BANDS: tuple[str, ...] = get_args(AgeBand)
SEXES: tuple[str, ...] = get_args(Sex)
MINOR_BANDS: tuple[str, ...] = ("UNDER_13", "AGE_13_15", "AGE_16_17")

# Avro enum name in CaseReport → the tuple above (checked by the test).
ENUMS: dict[str, tuple[str, ...]] = {
    "Category": CATEGORIES,
    "Severity": SEVERITIES,
    "Consent": CONSENTS,
    "AgeBand": AGE_BANDS,
    "Sex": SEXES,
}
