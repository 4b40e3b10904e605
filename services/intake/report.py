"""The case report as a pydantic model, with the semantic checks the Avro schema cannot express.

`accepted_report` checks a report without building the model when every check plainly passes (`_plain`, the
hot path: most reports are valid); anything else goes through the model, whose first error is the rejection.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from referral_bus.errors import InvalidFieldError
from referral_domain import jurisdictions
from referral_domain.vocabulary import (
    AGE_BANDS,
    CATEGORIES,
    CONSENTS,
    SEVERITIES,
    SEXES,
    AgeBand,
    Category,
    Consent,
    Severity,
    Sex,
)
from services.intake.errors import UnknownJurisdictionError

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
ShortText = Annotated[str, Field(max_length=512)]
LongText = Annotated[str, Field(max_length=20_000)]

RECIPIENT_KINDS = ("police", "child_protection", "social_services", "hotline", "health", "international_partner")
_HEX_LENGTHS = {"sha256": 64, "sha1": 40, "md5": 32, "pdq": 64}
_HEX = re.compile(r"^[0-9a-f]+$")
MINOR_BANDS = {"UNDER_13", "AGE_13_15", "AGE_16_17"}


class Strict(BaseModel):
    """Base: unknown fields are errors, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Victim(Strict):
    """The victim or survivor."""

    age_band: AgeBand
    is_minor: bool
    jurisdiction: Annotated[str, Field(min_length=2, max_length=6)]
    name: ShortText | None = None
    contact: ShortText | None = None
    account_handle: ShortText | None = None
    sex: Sex | None = None

    @model_validator(mode="after")
    def _age_agrees(self) -> Victim:
        problem = _age_problem(self.age_band, self.is_minor)
        if problem is not None:
            raise ValueError(problem)
        return self


def _age_problem(age_band: str, is_minor: bool) -> str | None:
    """Why an age band and the minor flag disagree, or None."""
    if age_band in MINOR_BANDS and not is_minor:
        return f"age_band {age_band} is a minor's but is_minor is false"
    if age_band == "ADULT" and is_minor:
        return "age_band ADULT but is_minor is true"
    return None


class Offender(Strict):
    """The suspected offender."""

    country: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    account_handle: ShortText | None = None
    ip_address: Annotated[str, Field(max_length=64)] | None = None
    name: ShortText | None = None


class ContentHash(Strict):
    """One hash of one piece of content."""

    algorithm: Annotated[str, Field(min_length=2, max_length=32, pattern=r"^[a-z0-9_-]+$")]
    value: Annotated[str, Field(min_length=1, max_length=1024)]

    @model_validator(mode="after")
    def _shape(self) -> ContentHash:
        if not _hash_shaped(self.algorithm, self.value):
            raise ValueError(f"{self.algorithm} hash must be {_HEX_LENGTHS[self.algorithm]} lower-case hex characters")
        return self


def _hash_shaped(algorithm: str, value: str) -> bool:
    """False for a hash of a known algorithm whose value is not its number of lower-case hex characters."""
    expected = _HEX_LENGTHS.get(algorithm)
    return expected is None or (len(value) == expected and _HEX.match(value) is not None)


def _url_problem(urls: list[str]) -> str | None:
    """Why `content_urls` is refused (the first URL that is not absolute http(s)), or None."""
    for i, url in enumerate(urls):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"content_urls[{i}] is not an absolute http(s) URL"
    return None


class CaseReport(Strict):
    """Mirror of the CaseReport Avro contract (current version)."""

    report_id: Identifier
    agency_id: Identifier
    source_system: Annotated[str, Field(min_length=1, max_length=128)]
    reported_at: Annotated[int, Field(gt=0)]
    received_at: Annotated[int, Field(gt=0)] | None = None
    category: Category
    severity: Severity
    escalation_reason: ShortText | None = None
    victim: Victim
    offender: Offender
    hosting_country: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    platform: Annotated[str, Field(max_length=128)] | None = None
    content_hashes: Annotated[list[ContentHash], Field(max_length=1000)] = []
    content_urls: Annotated[list[Annotated[str, Field(max_length=2048)]], Field(max_length=1000)] = []
    preservation_requested: bool = False
    consent: Consent
    consented_services: Annotated[list[str], Field(max_length=len(RECIPIENT_KINDS))] = []
    reporter_contact: ShortText | None = None
    narrative: LongText | None = None

    @field_validator("content_urls")
    @classmethod
    def _urls_parse(cls, urls: list[str]) -> list[str]:
        problem = _url_problem(urls)
        if problem is not None:
            raise ValueError(problem)
        return urls

    @field_validator("consented_services")
    @classmethod
    def _kinds(cls, kinds: list[str]) -> list[str]:
        if not _known_kinds(kinds):
            raise ValueError(f"consented_services must be among {', '.join(RECIPIENT_KINDS)}")
        return kinds

    @model_validator(mode="after")
    def _consent(self) -> CaseReport:
        if not _consent_fits(self.consent, self.victim.is_minor):
            raise ValueError("consent NOT_REQUIRED_CHILD is only valid when the victim is a minor")
        return self


def _known_kinds(kinds: list[str]) -> bool:
    """True when every consented service is a recipient kind."""
    return all(k in RECIPIENT_KINDS for k in kinds)


def _consent_fits(consent: str, is_minor: bool) -> bool:
    """False for NOT_REQUIRED_CHILD on an adult's report."""
    return consent != "NOT_REQUIRED_CHILD" or is_minor


_REPORT_FIELDS = tuple(CaseReport.model_fields)
_VICTIM_FIELDS = tuple(Victim.model_fields)
_OFFENDER_FIELDS = tuple(Offender.model_fields)
_HASH_FIELDS = frozenset(ContentHash.model_fields)
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")  # Identifier's pattern (pydantic's regex: `$` is the end)
_ALGORITHM = re.compile(r"[a-z0-9_-]+")
_LONG = 2**63  # a reported_at/received_at at or past it goes through the model
_CATEGORIES, _SEVERITIES, _CONSENTS = frozenset(CATEGORIES), frozenset(SEVERITIES), frozenset(CONSENTS)
_AGE_BANDS, _SEXES = frozenset(AGE_BANDS), frozenset(SEXES)


def _text(value: Any, low: int, high: int) -> bool:
    """A str of `low`..`high` characters that pydantic takes (no lone surrogate), nothing else."""
    if type(value) is not str or not low <= len(value) <= high:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _optional(value: Any, high: int, low: int = 0) -> bool:
    return value is None or _text(value, low, high)


def _symbol(value: Any, symbols: frozenset[str]) -> bool:
    return type(value) is str and value in symbols


def _time(value: Any) -> bool:
    return type(value) is int and 0 < value < _LONG


def _plain(r: dict[str, Any]) -> dict[str, Any] | None:
    """`CaseReport.model_validate(r).model_dump()` when every check of the model plainly passes, else None.

    Conservative: only exact types (str, int, bool, dict, list), every field present; None sends the report
    through the model, which then accepts it or names its first error.
    """
    if r.keys() != _REPORT_KEYS:
        return None
    victim, offender = r["victim"], r["offender"]
    hashes, urls, kinds = r["content_hashes"], r["content_urls"], r["consented_services"]
    if not (
        type(victim) is dict
        and victim.keys() == _VICTIM_KEYS
        and type(offender) is dict
        and offender.keys() == _OFFENDER_KEYS
        and type(hashes) is list
        and len(hashes) <= 1000
        and type(urls) is list
        and len(urls) <= 1000
        and type(kinds) is list
        and len(kinds) <= len(RECIPIENT_KINDS)
    ):
        return None
    is_minor = victim["is_minor"]
    if not (
        _text(r["report_id"], 1, 128)
        and _IDENTIFIER.fullmatch(r["report_id"])
        and _text(r["agency_id"], 1, 128)
        and _IDENTIFIER.fullmatch(r["agency_id"])
        and _text(r["source_system"], 1, 128)
        and _time(r["reported_at"])
        and (r["received_at"] is None or _time(r["received_at"]))
        and _symbol(r["category"], _CATEGORIES)
        and _symbol(r["severity"], _SEVERITIES)
        and _optional(r["escalation_reason"], 512)
        and _symbol(victim["age_band"], _AGE_BANDS)
        and type(is_minor) is bool
        and _text(victim["jurisdiction"], 2, 6)
        and _optional(victim["name"], 512)
        and _optional(victim["contact"], 512)
        and _optional(victim["account_handle"], 512)
        and (victim["sex"] is None or _symbol(victim["sex"], _SEXES))
        and _age_problem(victim["age_band"], is_minor) is None
        and _optional(offender["country"], 2, 2)
        and _optional(offender["account_handle"], 512)
        and _optional(offender["ip_address"], 64)
        and _optional(offender["name"], 512)
        and _optional(r["hosting_country"], 2, 2)
        and _optional(r["platform"], 128)
        and all(_plain_hash(h) for h in hashes)
        and all(_text(url, 0, 2048) for url in urls)
        and type(r["preservation_requested"]) is bool
        and _symbol(r["consent"], _CONSENTS)
        and all(type(k) is str for k in kinds)
        and _known_kinds(kinds)
        and _optional(r["reporter_contact"], 512)
        and _optional(r["narrative"], 20_000)
        and _consent_fits(r["consent"], is_minor)
    ):
        return None
    try:
        if _url_problem(urls) is not None:
            return None
    except ValueError:  # urlsplit's refusal (e.g. a bad IPv6 host): the model words it
        return None
    record = {name: r[name] for name in _REPORT_FIELDS}
    record["victim"] = {name: victim[name] for name in _VICTIM_FIELDS}
    record["offender"] = {name: offender[name] for name in _OFFENDER_FIELDS}
    record["content_hashes"] = [{"algorithm": h["algorithm"], "value": h["value"]} for h in hashes]
    record["content_urls"], record["consented_services"] = list(urls), list(kinds)
    return record


def _plain_hash(h: Any) -> bool:
    """One content hash that ContentHash plainly takes."""
    return (
        type(h) is dict
        and h.keys() == _HASH_FIELDS
        and _text(h["algorithm"], 2, 32)
        and _ALGORITHM.fullmatch(h["algorithm"]) is not None
        and _text(h["value"], 1, 1024)
        and _hash_shaped(h["algorithm"], h["value"])
    )


_REPORT_KEYS, _VICTIM_KEYS, _OFFENDER_KEYS = (
    frozenset(_REPORT_FIELDS),
    frozenset(_VICTIM_FIELDS),
    frozenset(_OFFENDER_FIELDS),
)


def normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """Canonical forms: codes upper-case, hash algorithm and value lower-case, text trimmed."""
    out = dict(raw)
    victim = out.get("victim") or {}
    if isinstance(victim, dict):  # anything else is left for the model to reject with the field's name
        victim = dict(victim)
        if isinstance(victim.get("jurisdiction"), str):
            victim["jurisdiction"] = jurisdictions.normalise(victim["jurisdiction"])
    out["victim"] = victim
    offender = out.get("offender") or {}
    if isinstance(offender, dict):
        offender = dict(offender)
        if isinstance(offender.get("country"), str):
            offender["country"] = offender["country"].strip().upper()
    out["offender"] = offender
    if isinstance(out.get("hosting_country"), str):
        out["hosting_country"] = out["hosting_country"].strip().upper()
    hashes = out.get("content_hashes")
    if isinstance(hashes, list):
        out["content_hashes"] = [
            {k: (v.strip().lower() if isinstance(v, str) else v) for k, v in h.items()} if isinstance(h, dict) else h
            for h in hashes
        ]
    return out


def _first_error(exc: ValidationError) -> InvalidFieldError:
    """The first pydantic error as our own, naming field and problem but never the value."""
    err = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or "report"
    message = err["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return InvalidFieldError(f"{field}: {message}{more}", field=field)


def validate(raw: dict[str, Any], *, now_ms: int, clock_skew_ms: int) -> CaseReport:
    """The model of a decoded report; raise InvalidFieldError or UnknownJurisdictionError naming the field."""
    try:
        report = CaseReport.model_validate(normalise(raw))
    except ValidationError as exc:
        raise _first_error(exc) from None
    _check_beyond_model(report.model_dump(), now_ms=now_ms, clock_skew_ms=clock_skew_ms)
    return report


def accepted_report(raw: dict[str, Any], *, now_ms: int, clock_skew_ms: int) -> tuple[dict[str, Any], str | None]:
    """A decoded report checked (InvalidFieldError or UnknownJurisdictionError naming the field) and normalised.

    Returns the model's record (`CaseReport.model_dump()`, a new dict the caller may change) with a former province
    code replaced by its current unit, and that code as sent (or None). The model is built only when `_plain` does
    not see every check pass, so a rejection is always the model's first error.
    """
    normal = normalise(raw)
    record = _plain(normal)
    if record is None:
        try:
            record = CaseReport.model_validate(normal).model_dump()
        except ValidationError as exc:
            raise _first_error(exc) from None
    unit = _check_beyond_model(record, now_ms=now_ms, clock_skew_ms=clock_skew_ms)
    victim = record["victim"]
    sent = victim["jurisdiction"]
    if unit == sent:
        return record, None
    victim["jurisdiction"] = unit
    return record, sent


def _check_beyond_model(record: dict[str, Any], *, now_ms: int, clock_skew_ms: int) -> str:
    """The checks after the model's: no time in the future beyond the skew, known jurisdiction and countries.

    Returns the victim's current jurisdiction unit.
    """
    for name in ("reported_at", "received_at"):
        value = record[name]
        if value is not None and value > now_ms + clock_skew_ms:
            raise InvalidFieldError(f"{name} is in the future beyond the clock-skew allowance", field=name)
    unit = jurisdictions.current_unit(record["victim"]["jurisdiction"])
    if unit is None:
        raise UnknownJurisdictionError(
            "victim.jurisdiction is not a known ISO 3166-1 country, current ISO 3166-2 subdivision or former "
            "Vietnamese province code",
            field="victim.jurisdiction",
        )
    for name, code in (
        ("offender.country", record["offender"]["country"]),
        ("hosting_country", record["hosting_country"]),
    ):
        if code is not None and not jurisdictions.is_country(code):
            raise UnknownJurisdictionError(f"{name} is not a known ISO 3166-1 alpha-2 country code", field=name)
    return unit
