"""`accepted_report` (the model's record as a dict, no model copies) answers exactly as the model path did.

The oracle is intake's path before this change, written out here: `CaseReport.model_validate` of the
normalised report, its first error, the checks after the model, `model_copy` to the current unit, `model_dump`.
Over reports near every boundary (lengths, patterns, types, symbols, unicode, missing and extra keys) both must
give the same record (same keys, same order) or the same error (type, message, field, reason).
"""

from __future__ import annotations

import copy
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from referral_bus.codec import Codec
from referral_bus.errors import RejectedMessage
from referral_domain import jurisdictions
from services.intake.errors import UnknownJurisdictionError
from services.intake.report import CaseReport, InvalidFieldError, _first_error, accepted_report, normalise
from tests.support.reports import valid_report

NOW = int(time.time() * 1000)
SKEW = 300_000
CASES = settings(
    max_examples=600,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def model_path(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Intake's validation as it was (main 0ce3fdf): the model, its checks, the current unit, model_dump."""
    try:
        report = CaseReport.model_validate(normalise(raw))
    except ValidationError as exc:
        raise _first_error(exc) from None
    for name, value in (("reported_at", report.reported_at), ("received_at", report.received_at)):
        if value is not None and value > NOW + SKEW:
            raise InvalidFieldError(f"{name} is in the future beyond the clock-skew allowance", field=name)
    if jurisdictions.current_unit(report.victim.jurisdiction) is None:
        raise UnknownJurisdictionError(
            "victim.jurisdiction is not a known ISO 3166-1 country, current ISO 3166-2 subdivision or former "
            "Vietnamese province code",
            field="victim.jurisdiction",
        )
    for name, code in (("offender.country", report.offender.country), ("hosting_country", report.hosting_country)):
        if code is not None and not jurisdictions.is_country(code):
            raise UnknownJurisdictionError(f"{name} is not a known ISO 3166-1 alpha-2 country code", field=name)
    sent = report.victim.jurisdiction
    unit = jurisdictions.current_unit(sent)
    if unit is None or unit == sent:
        return report.model_dump(), None
    victim = report.victim.model_copy(update={"jurisdiction": unit})
    return report.model_copy(update={"victim": victim}).model_dump(), sent


def outcome(check: Any, raw: dict[str, Any]) -> tuple[str, Any]:
    """What `check` makes of a deep copy of `raw`: the record as ordered JSON, or the rejection's every detail."""
    try:
        record, sent = check(copy.deepcopy(raw))
    except RejectedMessage as exc:
        return "rejected", (type(exc).__name__, str(exc), exc.field, exc.reason)
    return "accepted", (json.dumps(record, ensure_ascii=False), sent)


def same(raw: dict[str, Any]) -> None:
    new = outcome(lambda r: accepted_report(r, now_ms=NOW, clock_skew_ms=SKEW), raw)
    assert new == outcome(model_path, raw)


class Text(str):
    """A str subclass: strict pydantic decides about it."""


def texts(low: int, high: int) -> st.SearchStrategy[Any]:
    """Strings around the bounds `low`..`high`: ASCII, any unicode (surrogates too), trailing newlines, a subclass."""
    bounds = st.sampled_from(sorted({max(0, low - 1), low, high, high + 1}))
    edge = bounds | st.integers(min_value=max(0, low - 1), max_value=high + 1)
    return st.one_of(
        edge.map(lambda n: "a" * n),
        bounds.map(lambda n: "é" * n),
        st.text(max_size=min(high + 2, 40)),
        st.text(st.characters(codec=None, categories=None), max_size=12),
        st.sampled_from(["A1", "a/b:c.d-e_f", "x\n", "\nx", " A", "A ", "-a", "é", "\udc80x", "AB\n"]),
        st.just(Text("ab")),
    )


ODD = st.one_of(st.none(), st.integers(), st.booleans(), st.floats(allow_nan=False), st.just([]), st.just({}))
OPTIONAL_TEXT = {"escalation_reason": 512, "platform": 128, "reporter_contact": 512, "narrative": 20_000}


VICTIM_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "age_band": st.sampled_from(["UNKNOWN", "UNDER_13", "AGE_13_15", "AGE_16_17", "ADULT", "adult"]) | ODD,
    "is_minor": st.sampled_from([True, False, 0, 1, None]),
    "jurisdiction": st.sampled_from(["VN-HN", "vn-hn ", "VN-07", "VN", "XX-99", "US-CA", "ZZ"]) | texts(2, 6) | ODD,
    "name": st.none() | texts(0, 512) | ODD,
    "contact": st.none() | texts(0, 512),
    "account_handle": st.none() | texts(0, 512),
    "sex": st.sampled_from([None, "FEMALE", "MALE", "OTHER", "UNKNOWN", "female"]) | ODD,
}

OFFENDER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "country": st.none() | st.sampled_from(["VN", "vn", "XX", "USA", " us"]) | texts(2, 2) | ODD,
    "account_handle": st.none() | texts(0, 512),
    "ip_address": st.none() | texts(0, 64) | ODD,
    "name": st.none() | texts(0, 512),
}


@st.composite
def reports(draw: st.DrawFn) -> dict[str, Any]:
    """A valid report with some fields redrawn near their limits or to a wrong type, maybe a key added or dropped."""
    raw = valid_report(reported_at=NOW - 10_000, received_at=NOW - 1000)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "report_id": texts(1, 128) | ODD,
        "agency_id": texts(1, 128) | ODD,
        "source_system": texts(1, 128) | ODD,
        "reported_at": st.sampled_from([0, 1, -1, NOW, NOW + SKEW, NOW + SKEW + 1, 2**63 - 1, 2**63, 2**70, True])
        | ODD,
        "received_at": st.sampled_from([None, 0, 1, NOW, NOW + SKEW + 1, 2**63, False]) | ODD,
        "category": st.sampled_from(["CSAM", "HARASSMENT", "csam", "OTHER", Text("CSAM"), ""]) | ODD,
        "severity": st.sampled_from(["LOW", "HIGH", "IMMINENT_DANGER", "high", Text("LOW")]) | ODD,
        "hosting_country": st.one_of(st.none(), texts(2, 2), st.sampled_from(["us", "XX", "VN", " sg "])) | ODD,
        "content_hashes": st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "algorithm": st.sampled_from(["sha256", "md5", "pdq", "sha1", "x", "SHA256", "a b", "ok_1"])
                        | texts(2, 32),
                        "value": st.one_of(
                            st.sampled_from(["a" * 64, "A" * 64, "0" * 32, "g" * 40, "a" * 63 + "\n", " " + "b" * 64]),
                            texts(1, 1024),
                        ),
                    }
                ),
                st.just({"algorithm": "sha256"}),
                st.just({"algorithm": "md5", "value": "0" * 32, "extra": 1}),
                ODD,
            ),
            max_size=3,
        )
        | ODD,
        "content_urls": st.lists(
            st.sampled_from(
                [
                    "https://a.example/x",
                    "http://b.example",
                    "ftp://c.example",
                    "https://",
                    "http://[::1",
                    "https://[::1]/p",
                    "//host/p",
                    "HTTPS://UP.example",
                ]
            )
            | texts(0, 2048)
            | ODD,
            max_size=3,
        )
        | ODD,
        "preservation_requested": st.sampled_from([True, False, 0, 1, None]),
        "consent": st.sampled_from(["GIVEN", "NOT_ASKED", "REFUSED", "NOT_REQUIRED_CHILD", "given", Text("GIVEN")])
        | ODD,
        "consented_services": st.lists(
            st.sampled_from(["police", "health", "hotline", "nope", Text("police")]) | ODD, max_size=8
        )
        | ODD,
        **{name: st.none() | texts(0, high) | ODD for name, high in OPTIONAL_TEXT.items()},
    }
    paths = (
        [("", n) for n in fields] + [("victim", n) for n in VICTIM_FIELDS] + [("offender", n) for n in OFFENDER_FIELDS]
    )
    chosen = draw(st.lists(st.sampled_from(paths), min_size=0, max_size=2, unique=True))
    for where, name in chosen:
        if not where:
            raw[name] = draw(fields[name])
    for where, name in chosen:
        if where:
            raw[where] = {**raw[where], name: draw((VICTIM_FIELDS if where == "victim" else OFFENDER_FIELDS)[name])}
    where = draw(st.sampled_from(["", "report", "victim", "offender"]))
    if where:
        target = raw if where == "report" else raw[where]
        if draw(st.booleans()):
            target.pop(draw(st.sampled_from(sorted(target))))
        else:
            target["unexpected"] = draw(ODD)
    return raw


@CASES
@given(reports())
def test_the_same_record_or_the_same_rejection_as_the_model(raw: dict[str, Any]) -> None:
    same(raw)


@pytest.mark.parametrize("jurisdiction", ["VN-HN", "VN-07", "vn-07 ", "US"])
def test_valid_reports_match(jurisdiction: str) -> None:
    raw = valid_report(reported_at=NOW - 10_000, received_at=None)
    raw["victim"] = {**raw["victim"], "jurisdiction": jurisdiction}
    same(raw)


def test_the_bench_reports_match() -> None:
    from bench.reports import ReportStream

    codec = Codec(schema_registry=None)
    for report in ReportStream(tag="plain").take(50):
        raw = codec.decode(codec.encode("CaseReport", report), "CaseReport")
        same(raw)


def test_the_record_is_new_so_the_caller_may_change_it() -> None:
    raw = valid_report(reported_at=NOW - 10_000)
    before = copy.deepcopy(raw)
    record, _ = accepted_report(raw, now_ms=NOW, clock_skew_ms=SKEW)
    record["victim"]["name"] = None
    record["content_urls"].append("https://x.example")
    record["content_hashes"][0]["value"] = "changed"
    assert raw == before


BOUNDS = {
    ("report_id",): (1, 128),
    ("agency_id",): (1, 128),
    ("source_system",): (1, 128),
    ("escalation_reason",): (0, 512),
    ("platform",): (0, 128),
    ("reporter_contact",): (0, 512),
    ("narrative",): (0, 20_000),
    ("victim", "jurisdiction"): (2, 6),
    ("victim", "name"): (0, 512),
    ("victim", "contact"): (0, 512),
    ("victim", "account_handle"): (0, 512),
    ("offender", "account_handle"): (0, 512),
    ("offender", "ip_address"): (0, 64),
    ("offender", "name"): (0, 512),
}


@pytest.mark.parametrize("path", sorted(BOUNDS))
@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.parametrize("step", [-1, 0, 1])
@pytest.mark.parametrize("letter", ["A", "é"])
def test_every_length_bound(path: tuple[str, ...], end: str, step: int, letter: str) -> None:
    low, high = BOUNDS[path]
    n = (low if end == "low" else high) + step
    if n < 0:
        return
    raw = valid_report(reported_at=NOW - 10_000)
    target = raw
    for part in path[:-1]:
        inner = dict(target[part])
        target[part] = inner
        target = inner
    target[path[-1]] = letter * n
    same(raw)


@pytest.mark.parametrize("field", ["content_hashes", "content_urls", "consented_services"])
@pytest.mark.parametrize("n", [6, 7, 1000, 1001])
def test_every_list_bound(field: str, n: int) -> None:
    item = {
        "content_hashes": {"algorithm": "sha256", "value": "ab" * 32},
        "content_urls": "https://a.example/x",
        "consented_services": "police",
    }[field]
    same(valid_report(reported_at=NOW - 10_000, **{field: [item] * n}))


@pytest.mark.parametrize("age_band", ["UNKNOWN", "UNDER_13", "AGE_16_17", "ADULT", "adult"])
@pytest.mark.parametrize("is_minor", [True, False])
@pytest.mark.parametrize("consent", ["GIVEN", "NOT_REQUIRED_CHILD", "given"])
def test_the_rules_across_fields(age_band: str, is_minor: bool, consent: str) -> None:
    raw = valid_report(reported_at=NOW - 10_000, consent=consent)
    raw["victim"] = {**raw["victim"], "age_band": age_band, "is_minor": is_minor}
    same(raw)
