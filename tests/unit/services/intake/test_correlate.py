"""Correlation logic without Kafka: content keys, URL normalisation, the window, same vs other agency."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.codec import Codec
from referral_bus.errors import ProcessingError
from services.intake.accept import case_id_for
from services.intake.content import MAX_CONTENT_KEYS, content_keys, hash_key, normalise_url, url_key
from services.intake.correlate import (
    Claim,
    Correlator,
    Decided,
    Entry,
    Forward,
    Lookup,
    Restart,
    Verdict,
    per_partition,
)
from tests.support.correlation import through_hops, verdict_of
from tests.support.reports import valid_report

HOUR_MS = 3_600_000
T0 = 1_760_000_000_000
SHA_A = "ab" * 32
SHA_B = "cd" * 32


def case_of(
    agency: str, report_id: str, *, at: int, hashes: list[str] | None = None, urls: list[str] | None = None
) -> dict[str, Any]:
    """A Case as intake builds it, for one report with the given content."""
    report = valid_report(
        agency_id=agency,
        report_id=report_id,
        content_hashes=[{"algorithm": "sha256", "value": h} for h in (hashes or [])],
        content_urls=urls or [],
    )
    return {
        "case_id": case_id_for(agency, report_id),
        "accepted_at": at,
        "report": report,
        "linked_reports": [],
        "is_update": False,
    }


def run(correlator: Correlator, case: dict[str, Any], *, hops: list[bytes] | None = None) -> Decided | None:
    """Drive one report through its lookup hops, verdict and claims as the topics would; the decision."""
    return through_hops(correlator, case, hops=hops)


def make(window_hours: int = 72) -> Correlator:
    return Correlator({}, window_ms=window_hours * HOUR_MS)


# --- URL normalisation and content keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://Social.Example.invalid/p/1", "http://social.example.invalid/p/1"),
        ("https://www.example.invalid/p/1", "https://example.invalid/p/1"),
        ("https://example.invalid:443/p/1", "https://example.invalid/p/1"),
        ("https://example.invalid/p/1/", "https://example.invalid/p/1"),
        ("https://example.invalid/p/1#comments", "https://example.invalid/p/1"),
        ("https://example.invalid/p/1?b=2&a=1", "https://example.invalid/p/1?a=1&b=2"),
        ("https://example.invalid/p/1?utm_source=x&fbclid=y", "https://example.invalid/p/1"),
        ("https://example.invalid/p/%7euser", "https://example.invalid/p/~user"),
        ("https://user:pw@example.invalid/p", "https://example.invalid/p"),
        ("https://example.invalid./p", "https://example.invalid/p"),
    ],
)
def test_urls_of_the_same_content_normalise_alike(a: str, b: str) -> None:
    assert normalise_url(a) == normalise_url(b)
    assert url_key(a) == url_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.invalid/p/1", "https://example.invalid/p/2"),
        ("https://example.invalid/P/1", "https://example.invalid/p/1"),  # path case is significant
        ("https://example.invalid:8443/p", "https://example.invalid/p"),
        ("https://example.invalid/p?id=1", "https://example.invalid/p?id=2"),
        ("https://a.example.invalid/p", "https://b.example.invalid/p"),
    ],
)
def test_different_content_urls_stay_different(a: str, b: str) -> None:
    assert url_key(a) != url_key(b)


def test_content_keys_are_deterministic_hashes_first_and_carry_no_url() -> None:
    url = "https://social.example.invalid/u/victim_account"
    report: dict[str, Any] = {
        "content_hashes": [{"algorithm": "md5", "value": "0" * 32}, {"algorithm": "sha256", "value": SHA_A}],
        "content_urls": [url, url.upper().replace("HTTPS", "https")],
    }
    keys = content_keys(report)
    assert [k.matched_on for k in keys] == ["hash", "hash", "url", "url"]
    assert keys[0] == hash_key("sha256", SHA_A)  # sha256 first, whatever the report's order
    assert keys == content_keys({**report, "content_hashes": list(reversed(report["content_hashes"]))})
    for k in keys:
        assert len(k.digest) == 64 and "victim" not in k.digest


def test_same_hash_value_under_another_algorithm_is_another_key() -> None:
    assert hash_key("sha256", SHA_A) != hash_key("pdq", SHA_A)
    assert hash_key("sha256", SHA_A.upper()) == hash_key("sha256", SHA_A)


def test_duplicate_keys_collapse_and_the_count_is_capped() -> None:
    report = {"content_hashes": [{"algorithm": "sha256", "value": SHA_A}] * 3, "content_urls": []}
    assert len(content_keys(report)) == 1
    many = {"content_urls": [f"https://example.invalid/p/{i}" for i in range(100)]}
    assert len(content_keys(many)) == MAX_CONTENT_KEYS


def test_report_without_hash_or_url_skips_correlation() -> None:
    assert make().start(case_of("agency-a", "A-1", at=T0)) is None


# --- decisions -----------------------------------------------------------------------------------------------


def test_first_report_opens_its_own_case() -> None:
    c = make()
    case = case_of("agency-a", "A-1", at=T0, hashes=[SHA_A])
    d = run(c, case)
    assert d is not None and not d.linked
    assert d.case == case
    Codec().encode("Case", d.case)


def test_other_agency_same_hash_within_window_is_linked_to_the_first_case() -> None:
    c = make()
    first = run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A]))
    assert first is not None
    d = run(c, case_of("agency-b", "B-9", at=T0 + 71 * HOUR_MS, hashes=[SHA_A]))
    assert d is not None and d.linked
    assert d.case_id == first.case_id == case_id_for("agency-a", "A-1")
    assert d.case["is_update"] is True
    assert d.case["linked_reports"] == [{"agency_id": "agency-b", "report_id": "B-9", "matched_on": "hash"}]
    assert d.case["report"]["report_id"] == "B-9"
    assert Codec().decode(Codec().encode("Case", d.case), "Case")["is_update"] is True


def test_other_agency_same_url_is_linked_on_url() -> None:
    c = make()
    run(c, case_of("agency-a", "A-1", at=T0, urls=["https://www.social.example.invalid/p/7?utm_source=x"]))
    d = run(c, case_of("agency-b", "B-1", at=T0 + 1, urls=["http://social.example.invalid/p/7/"]))
    assert d is not None and d.linked
    assert d.case["linked_reports"][0]["matched_on"] == "url"


def test_match_on_a_later_key_links_and_hash_match_wins_over_url() -> None:
    c = make()
    run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A], urls=["https://x.example.invalid/1"]))
    # B shares only the URL (different hash): still linked, on url
    d = run(c, case_of("agency-b", "B-1", at=T0 + 1, hashes=[SHA_B], urls=["https://x.example.invalid/1"]))
    assert d is not None and d.linked and d.case["linked_reports"][0]["matched_on"] == "url"
    # C shares both: the hash is looked up first
    d = run(c, case_of("agency-c", "C-1", at=T0 + 2, hashes=[SHA_A], urls=["https://x.example.invalid/1"]))
    assert d is not None and d.linked and d.case["linked_reports"][0]["matched_on"] == "hash"


def test_keys_first_seen_with_a_linked_report_belong_to_the_existing_case() -> None:
    c = make()
    run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A]))
    run(c, case_of("agency-b", "B-1", at=T0 + 1, hashes=[SHA_A, SHA_B]))  # SHA_B is new: claimed for A-1's case
    d = run(c, case_of("agency-c", "C-1", at=T0 + 2, hashes=[SHA_B]))
    assert d is not None and d.linked and d.case_id == case_id_for("agency-a", "A-1")


def test_same_agency_same_content_is_a_new_case() -> None:
    c = make()
    run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A]))
    d = run(c, case_of("agency-a", "A-2", at=T0 + 1, hashes=[SHA_A]))
    assert d is not None and not d.linked and d.case_id == case_id_for("agency-a", "A-2")
    # the first report keeps the key: another agency still links to the first case
    d = run(c, case_of("agency-b", "B-1", at=T0 + 2, hashes=[SHA_A]))
    assert d is not None and d.linked and d.case_id == case_id_for("agency-a", "A-1")


def test_outside_the_window_is_a_new_case_which_then_owns_the_content() -> None:
    c = make(window_hours=72)
    run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A]))
    late = run(c, case_of("agency-b", "B-1", at=T0 + 72 * HOUR_MS, hashes=[SHA_A]))
    assert late is not None and not late.linked and late.case_id == case_id_for("agency-b", "B-1")
    d = run(c, case_of("agency-c", "C-1", at=T0 + 73 * HOUR_MS, hashes=[SHA_A]))
    assert d is not None and d.linked and d.case_id == late.case_id


def test_zero_window_never_links() -> None:
    c = make(window_hours=0)
    run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A]))
    d = run(c, case_of("agency-b", "B-1", at=T0, hashes=[SHA_A]))
    assert d is not None and not d.linked


def test_replayed_report_gets_the_same_decision() -> None:
    c = make()
    run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A], urls=["https://x.example.invalid/1"]))
    again = run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A], urls=["https://x.example.invalid/1"]))
    assert again is not None and not again.linked and again.case_id == case_id_for("agency-a", "A-1")
    b = case_of("agency-b", "B-1", at=T0 + 5, hashes=[SHA_A])
    assert run(c, b) == run(c, b)


def test_each_hop_is_keyed_by_its_content_key_and_the_verdict_by_the_report() -> None:
    c = make()
    case = case_of("agency-a", "A-1", at=T0, hashes=[SHA_A], urls=["https://x.example.invalid/1"])
    keys = content_keys(case["report"])
    first = c.start(case)
    assert first is not None and first.key == keys[0].digest.encode()
    second = c.handle(first.value)
    assert isinstance(second, Forward) and second.key == keys[1].digest.encode()
    verdict = c.handle(second.value)
    assert isinstance(verdict, Verdict) and verdict.key == b"agency-a/A-1"
    decided = c.decide(case, verdict_of(c, verdict.value))
    assert [f.key for f in decided.claims] == [k.digest.encode() for k in keys]


def test_hops_carry_ids_and_digests_only_never_the_case() -> None:
    c = make()
    url = "https://social.example.invalid/u/t\u00ean-n\u1ea1n-nh\u00e2n"
    case = case_of("agency-a", "A-1", at=T0, hashes=[SHA_A], urls=[url])
    case["report"]["narrative"] = "Ng\u01b0\u1eddi b\u1ecb h\u1ea1i k\u1ec3 l\u1ea1i"
    hops: list[bytes] = []
    run(c, case, hops=hops)
    assert len(hops) == 4  # two lookups (hash, url) and the two claims after the verdict: nothing else
    for value in hops:
        msg = json.loads(value)
        assert set(msg) <= {"kind", "case_id", "agency_id", "report_id", "accepted_at", "keys", "step", "match"} | {
            "key",
            "entry",
        }
        text = value.decode()
        assert "narrative" not in text and "social.example" not in text and "victim" not in text
        assert len(value) < 1024


def test_a_verdict_for_another_case_is_refused() -> None:
    c = make()
    a = case_of("agency-a", "A-1", at=T0, hashes=[SHA_A])
    first = c.start(a)
    assert first is not None
    verdict = c.handle(first.value)
    assert isinstance(verdict, Verdict)
    with pytest.raises(ProcessingError):
        c.decide(case_of("agency-a", "A-2", at=T0, hashes=[SHA_A]), verdict_of(c, verdict.value))


def test_an_agency_over_its_daily_claim_limit_claims_nothing_more() -> None:
    c = Correlator({}, window_ms=72 * HOUR_MS, claim_limit=lambda agency: 2 if agency == "greedy" else 99)
    for i in range(5):
        run(c, case_of("greedy", f"G-{i}", at=T0 + i, urls=[f"https://popular.example.invalid/v/{i}"]))
    # the first two are claimed for the greedy agency; the rest stay free for whoever reports them
    linked = [
        run(c, case_of("agency-b", f"B-{i}", at=T0 + 10, urls=[f"https://popular.example.invalid/v/{i}"]))
        for i in range(5)
    ]
    assert [d is not None and d.linked for d in linked] == [True, True, False, False, False]
    assert c.refused_claims == 3
    # B's own reports claimed the free keys: a third agency now links to B's cases
    d = run(c, case_of("agency-c", "C-1", at=T0 + 20, urls=["https://popular.example.invalid/v/4"]))
    assert d is not None and d.linked and d.case_id == case_id_for("agency-b", "B-4")
    # the limit is per day: the next day the greedy agency claims again
    d = run(c, case_of("greedy", "G-9", at=T0 + 24 * HOUR_MS, urls=["https://popular.example.invalid/v/9"]))
    assert d is not None and not d.linked and c.refused_claims == 3


def test_per_partition_limit_is_twice_the_even_share_and_never_zero() -> None:
    assert per_partition(5000, 12) == 834
    assert per_partition(1, 12) == 1
    assert per_partition(0, 12) == 0  # an agency with limit 0 never claims
    assert per_partition(10, 1) == 20


HOP = {"kind": "lookup", "case_id": "c", "agency_id": "a", "report_id": "r", "accepted_at": 1}
HOP |= {"keys": [["d", "hash"]], "step": 0}


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"kind": "other"}).encode(),
        json.dumps({"kind": "claim", "key": "k"}).encode(),
        json.dumps({"kind": "claim", "key": "k", "entry": {"case_id": "c"}}).encode(),
        json.dumps({"kind": "lookup", "case_id": "c", "keys": [], "step": 0}).encode(),
        json.dumps({**HOP, "keys": []}).encode(),
        json.dumps({**HOP, "step": 3}).encode(),
    ],
)
def test_malformed_correlation_messages_raise_a_processing_error(value: bytes) -> None:
    with pytest.raises(ProcessingError) as info:
        make().handle(value)
    assert info.value.reason == "processing_error"


def test_a_hop_written_before_the_upgrade_sends_its_case_back_to_be_correlated_again() -> None:
    c = make()
    run(c, case_of("agency-a", "A-1", at=T0, hashes=[SHA_A]))
    b = case_of("agency-b", "B-1", at=T0 + 1, hashes=[SHA_A])
    keys = content_keys(b["report"])
    old = {"kind": "lookup", "case": b, "keys": [[k.digest, k.matched_on] for k in keys], "step": 0, "match": None}
    step = c.handle(json.dumps(old).encode())
    assert isinstance(step, Verdict) and step.key == b"agency-b/B-1"  # back to the report's partition
    restart = c.verdict(step.value)
    assert isinstance(restart, Restart) and restart.case == b
    decided = run(c, restart.case)  # intake keeps it pending and hops again, ids and digests only
    assert decided is not None and decided.linked and decided.case_id == case_id_for("agency-a", "A-1")


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["kind", "case_id", "agency_id", "report_id", "accepted_at", "keys", "step", "match", "case"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(FIELDS, JSONISH, max_size=9), st.sampled_from(["lookup", "claim", "verdict", "restart", None]))
def test_hostile_correlation_and_verdict_messages_are_processing_errors_or_steps(
    msg: dict[str, Any], kind: str | None
) -> None:
    if kind is not None:
        msg["kind"] = kind
    value = json.dumps(msg).encode()
    for call in (make().handle, make().verdict):
        try:
            out = call(value)
        except ProcessingError:
            continue
        assert isinstance(out, (Forward, Verdict, Claim, Lookup, Restart))


@given(st.text(), st.integers(), st.text(), st.text())
def test_an_entry_json_is_its_asdict(case_id: str, first_seen_ms: int, agency_id: str, report_id: str) -> None:
    """Entries, claims and hops carry the same JSON (same keys, same order) as with `dataclasses.asdict`."""
    entry = Entry(case_id, first_seen_ms, agency_id, report_id)
    assert list(entry.to_json().items()) == list(asdict(entry).items())
    assert Entry.from_json(entry.to_json()) == entry
