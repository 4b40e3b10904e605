"""Generated input for the statistics tests: cases, decisions, receipts and dead letters over several
weeks and provinces, and the figures expected from them, counted here independently of services.stats."""

from __future__ import annotations

import random
import shutil
import subprocess
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from referral_domain.vocabulary import AGE_BANDS, CATEGORIES, SEXES

VN_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
# Many cases in a few provinces, a handful in others (withheld some weeks), some without a province.
PROVINCES = ["VN-HN"] * 9 + ["VN-SG"] * 8 + ["VN-DN"] * 4 + ["VN-HP"] * 3 + ["VN-CT", "VN-22", "VN-26", "VN", "TH"]
AGENCIES = {
    "vn-hotline-111": "hotline",
    "platform-examplesocial": "platform",
    "ngo-safe-space-dn": "ngo",
    "x-unlisted": "other",
}
RECIPIENTS = {
    "vn-police-cybercrime": "police",
    "vn-child-hotline-111": "hotline",
    "vn-child-protection-national": "child_protection",
    "vn-social-services-national": "social_services",
}
# platform as an agency typed it → as published (config/stats.yaml lists the names that may appear)
PLATFORMS = {
    "ExampleSocial": "ExampleSocial",
    "examplevideo ": "ExampleVideo",
    "ExampleGameChat": "ExampleGameChat",
    "a private group of Nguyen": "OTHER",
    None: "UNKNOWN",
}
# (stage, reason) of generated dead letters: the identity and safeguard reasons, and one newer than the code
DEAD_LETTERS = [
    ("intake", "undecodable"),
    ("intake", "invalid_field"),
    ("intake", "unknown_jurisdiction"),
    ("intake", "agency_mismatch"),
    ("intake", "a_reason_added_later"),
    ("notifier", "safeguard_refused"),
    ("notifier", "recipient_mismatch"),
]
MONDAY = datetime(2026, 9, 7, tzinfo=VN_TIME)  # ISO 2026-W37


def week(ms: int) -> str:
    """ISO week in Viet Nam time, written independently of services.stats.weeks."""
    d = datetime.fromtimestamp(ms / 1000, VN_TIME).date()
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def unit(jurisdiction: str) -> str:
    return jurisdiction if jurisdiction.startswith("VN-") else "VN-XX"


@dataclass
class Input:
    """Records to produce, by topic contract name, and the expected counts per week."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, dict[str, Counter[tuple[str, ...]]]] = field(default_factory=dict)

    def count(self, w: str, metric: str, *cell: str) -> None:
        self.expected.setdefault(w, {}).setdefault(metric, Counter())[cell] += 1


def generate(n_cases: int, *, weeks: int = 5, seed: int = 7, start: datetime = MONDAY) -> Input:
    """`n_cases` cases over `weeks` weeks, 8 % linked reports, decisions, acknowledgements, escalations."""
    rnd = random.Random(seed)
    out = Input()
    for n in range(n_cases):
        at = start + timedelta(seconds=rnd.randrange(weeks * 7 * 86400))
        ms = int(at.timestamp() * 1000)
        w = week(ms)
        jurisdiction = rnd.choice(PROVINCES)
        category, age, sex = rnd.choice(CATEGORIES), rnd.choice(AGE_BANDS), rnd.choice([*SEXES, None])
        agency, platform = rnd.choice(list(AGENCIES)), rnd.choice(list(PLATFORMS))
        offender = rnd.choice([None, "VN", "PH", "KH"])
        case_id = f"case-{uuid.UUID(int=rnd.getrandbits(128))}"
        report = {
            "report_id": f"R{seed}-{n}",
            "agency_id": agency,
            "source_system": "stats-test",
            "reported_at": ms,
            "received_at": None,
            "category": category,
            "severity": "MEDIUM",
            "escalation_reason": None,
            "victim": {
                "age_band": age,
                "is_minor": age not in ("ADULT", "UNKNOWN"),
                "jurisdiction": jurisdiction,
                "name": None,
                "contact": None,
                "account_handle": None,
                "sex": sex,
            },
            "offender": {"country": offender, "account_handle": None, "ip_address": None, "name": None},
            "hosting_country": None,
            "platform": platform,
            "content_hashes": [],
            "content_urls": [],
            "preservation_requested": False,
            "consent": "NOT_ASKED",
            "consented_services": [],
            "reporter_contact": None,
            "narrative": None,
        }
        linked = n > 50 and rnd.random() < 0.08
        if linked:  # another agency's report of content already seen: same case id as an earlier case
            earlier = rnd.choice([c for c in out.cases[-50:] if not c["is_update"]])
            case_id = earlier["case_id"]
        case = {
            "case_id": case_id,
            "accepted_at": ms + 1000,
            "report": report,
            "linked_reports": [],
            "is_update": linked,
        }
        out.cases.append(case)
        prov = unit(jurisdiction)
        if linked:
            out.count(w, "linked", category)
            continue
        out.count(w, "cases", category, prov)
        out.count(w, "age", age)
        out.count(w, "sex", sex or "UNKNOWN")
        out.count(w, "agency_kind", AGENCIES[agency])
        out.count(w, "platform", PLATFORMS[platform])
        for country in sorted({c for c in (jurisdiction.split("-")[0], offender) if c and c != "VN"}):
            out.count(w, "cross_border", country)
        chosen = rnd.sample(list(RECIPIENTS), rnd.choice([1, 1, 2]))
        out.decisions.append(
            {
                "decision_id": f"d-{n}",
                "case_id": case_id,
                "report_id": f"R{n}",
                "decided_at": ms + 2000,
                "rules_version": "test",
                "matched_rules": ["r"],
                "recipients": [
                    {"recipient_id": r, "rule_ids": ["r"], "reason": "test", "fallback": None} for r in chosen
                ],
                "priority": "P3",
                "ack_sla_seconds": 3600,
                "preservation_request": False,
                "unmatched": False,
            }
        )
        for r in chosen:
            kind = RECIPIENTS[r]
            out.count(w, "referrals", kind, prov)
            rid = f"ref-{n}-{r}"
            roll = rnd.random()
            if roll < 0.35:
                latency = rnd.randrange(60_000, 7_200_000)
                out.receipts.append(_receipt(rid, case_id, r, "ACKNOWLEDGED", ms, latency))
                out.count(w, "acknowledged", kind, prov)
                if latency <= 3_600_000:
                    out.count(w, "acknowledged_within_sla", kind, prov)
                out.expected[w].setdefault("ack_ms", Counter())[(kind, prov, latency)] += 1
            elif roll < 0.42:
                out.receipts.append(_receipt(rid, case_id, r, "ESCALATED", ms, None))
                out.count(w, "escalations", kind, prov)
    for n in range(40):
        at = start + timedelta(seconds=rnd.randrange(weeks * 7 * 86400))
        agency = rnd.choice(list(AGENCIES))
        stage, reason = rnd.choice(DEAD_LETTERS)
        if stage == "intake" and rnd.random() < 0.5:  # from the agency's own topic: the topic says who sent it
            source = f"referrals.intake.{agency}.v1"
            key = f"{'vn-hotline-111' if reason == 'agency_mismatch' else agency}/X{n}"  # what the report claims
        elif stage == "intake":  # the internal intake topic (operators' replays): the key says who
            source, key = "referrals.intake.v1", f"{agency}/X{n}"
        else:
            source, key = "referrals.referrals.v1", f"case-{n}"
        out.dead_letters.append(
            {
                "dead_letter_id": f"dl-{n}",
                "stage": stage,
                "reason": reason,
                "message": "test",
                "field": None,
                "source_topic": source,
                "source_partition": 0,
                "source_offset": n,
                "original_key": key.encode(),
                "original_value": b"\x00",
                "original_headers": [],
                "failed_at": int(at.timestamp() * 1000),
                "case_id": None,
                "referral_id": None,
                "replay_count": 0,
            }
        )
        w = week(int(at.timestamp() * 1000))
        out.count(w, "dl_reason", reason)
        listed = stage == "intake" and AGENCIES[agency] != "other"
        out.count(w, "dl_agency", agency if listed else "unlisted")
    return out


def _receipt(rid: str, case_id: str, recipient: str, status: str, ms: int, latency: int | None) -> dict[str, Any]:
    return {
        "receipt_id": f"rc-{rid}-{status}",
        "referral_id": rid,
        "case_id": case_id,
        "recipient_id": recipient,
        "status": status,
        "at": ms + 10_000,
        "channel": None,
        "attempt": 1,
        "latency_ms": latency,
        "detail": None,
    }


def aggregate(data: Input, kinds: Any, *, partition: int = 0) -> dict[str, int]:
    """The members the pure aggregator keeps for `data` (cases, then decisions, receipts, dead letters)."""
    from services.stats.aggregate import Aggregator

    members: dict[str, int] = {}
    agg = Aggregator(members, {}, kinds)
    for case in data.cases:
        agg.case(case, partition)
    for decision in data.decisions:
        agg.decision(decision, partition)
    for receipt in data.receipts:
        agg.receipt(receipt, partition)
    for letter in data.dead_letters:
        agg.dead_letter(letter, partition)
    return members


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium(*args: str, cwd: Any = None) -> subprocess.CompletedProcess[str]:
    """Run Debian's headless Chromium with the project's flags (dump the DOM, take a screenshot, ...)."""
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
