"""The benchmark's agency registry: the shipped agencies, none of them limited to fewer claims than a run makes."""

from __future__ import annotations

from pathlib import Path

from bench.reports import AGENCIES, ReportStream
from bench.stackconfig import CLAIMS_PER_DAY, SHIPPED_AGENCIES, write_agencies
from referral_domain.agencies import load_agencies


def test_every_agency_may_claim_what_a_run_sends(tmp_path: Path) -> None:
    shipped = load_agencies(SHIPPED_AGENCIES)
    bench = load_agencies(write_agencies(tmp_path))
    assert set(bench.agencies) == set(shipped.agencies)
    assert {a: bench.claim_limit(a) for a in bench.agencies} == dict.fromkeys(shipped.agencies, CLAIMS_PER_DAY)
    assert all(shipped.claim_limit(a) < CLAIMS_PER_DAY for a in AGENCIES)  # the shipped limit would bind


def test_the_limit_is_above_two_claims_a_report_for_hours_at_the_knee_goal() -> None:
    keys = len(ReportStream().one()["content_hashes"]) + len(ReportStream().one()["content_urls"])
    assert CLAIMS_PER_DAY > keys * 2_000 * 3_600 * 8  # 2,000 reports/s for 8 hours, all from one agency
