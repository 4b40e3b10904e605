"""A generated stream of valid case reports across Viet Nam's provinces (fixed seed, so runs are comparable).

Every report is an adult who consented, so the safeguards admit exactly one police referral for it.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from referral_bus.clock import now_ms
from referral_domain import vocabulary
from referral_domain.jurisdictions import vn_units
from referral_domain.vocabulary import CATEGORIES

SEVERITIES = tuple(s for s in vocabulary.SEVERITIES if s != "UNKNOWN")
PLATFORMS = ("ExampleSocial", "ExampleGameChat", "ExampleVideo", "ExampleMessenger")
AGENCIES = ("vn-hotline-111", "platform-examplesocial", "ngo-safe-online")  # in config/agencies.yaml
WORDS = "sample report content shared private group account threat images message contact chat video".split()


class ReportStream:
    """Random but valid CaseReports; `take(n)` returns ready-to-encode dicts (ids and content keys unique per tag)."""

    def __init__(self, seed: int = 20261130, tag: str = "bench") -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.provinces = sorted(vn_units())
        self.n = 0

    def one(self) -> dict[str, Any]:
        """The next report; `received_at` is left for the producer to stamp at send time."""
        rng = self.rng
        self.n += 1
        # One webhook referral per report, as the baselines' one POST, under the shipped safeguards
        # (docs/safeguards.md): a child in Viet Nam must reach police AND child protection (two
        # referrals), an adult without consent never reaches police; an adult who consented to the
        # police referral gets exactly the one. bench.stackconfig.check_one_referral proves it.
        digest = hashlib.sha256(f"{self.tag}-{self.n}".encode()).hexdigest()
        narrative = "SAMPLE: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
        return {
            "report_id": f"{self.tag}-{self.n:08d}",
            "agency_id": rng.choice(AGENCIES),
            "source_system": "bench-generator",
            "reported_at": now_ms() - rng.randint(0, 86_400_000),
            "received_at": None,
            "category": rng.choice(CATEGORIES),
            "severity": rng.choice(SEVERITIES),
            "escalation_reason": None,
            "victim": {
                "age_band": "ADULT",
                "is_minor": False,
                "jurisdiction": rng.choice(self.provinces),
                "name": "SAMPLE Person",
                "contact": None,
                "account_handle": f"@sample_{self.n}",
            },
            "offender": {
                "country": rng.choice((None, "VN", "PH", "KH")),
                "account_handle": None,
                "ip_address": None,
                "name": None,
            },
            "hosting_country": rng.choice((None, "US", "VN", "SG")),
            "platform": rng.choice(PLATFORMS),
            "content_hashes": [{"algorithm": "sha256", "value": digest}],
            "content_urls": [f"https://social.example.invalid/p/{self.tag}-{self.n}"],  # unique per stream, as the hash
            "preservation_requested": rng.random() < 0.3,
            "consent": "GIVEN",
            "consented_services": [],
            "reporter_contact": None,
            "narrative": narrative,
        }

    def take(self, n: int) -> list[dict[str, Any]]:
        """The next `n` reports."""
        return [self.one() for _ in range(n)]


def kafka_key(report: dict[str, Any]) -> bytes:
    """The key intake expects (`agency_id/report_id`), so no rekey hop is taken."""
    return f"{report['agency_id']}/{report['report_id']}".encode()
