"""Safeguards tests' shared pieces: a small directory and rules that hold, and concrete cases from the whole space."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pycountry
import yaml
from hypothesis import strategies as st

from referral_bus.settings import REPO_ROOT
from referral_cli.ruletools.proof import KINDS, valid_person
from referral_domain import jurisdictions
from referral_domain.vocabulary import AGE_BANDS, CATEGORIES, CONSENTS, SEVERITIES
from services.routing.conditions import CaseView
from services.routing.rules import RuleSet

SAFEGUARDS = REPO_ROOT / "config" / "safeguards.yaml"


def recipient(rid: str, kind: str, places: list[str], profile: str = "need_to_know", **extra: Any) -> dict[str, Any]:
    """A small directory entry reached over https (or e-mail with STARTTLS, or Kafka for partners)."""
    channel = {"type": "webhook", "url": f"https://{rid}.example.invalid/referrals"}
    if kind == "international_partner":
        channel = {"type": "kafka"}
    return {
        "id": rid,
        "name": rid,
        "kind": kind,
        "jurisdictions": places,
        "channel": channel,
        "data_profile": profile,
        **extra,
    }


DIRECTORY: list[dict[str, Any]] = [
    recipient("police-national", "police", ["VN"], "full"),
    recipient("police-duty", "police", ["VN"], "full"),
    recipient("police-hn", "police", ["VN-HN"], "full", escalation_target="police-duty"),
    recipient("cp-national", "child_protection", ["VN"]),
    recipient("health-national", "health", ["VN"]),
    recipient(
        "child-hotline",
        "hotline",
        ["VN"],
        audience="children",
        channel={"type": "email", "to": ["a@b.invalid"], "smtp_host": "mail.example.invalid", "tls": "starttls"},
    ),
    recipient("partner-th", "international_partner", ["TH"], "convention_minimal", contact_point_24_7=True),
]

RULES = """\
version: 1
default_recipient: child-hotline
rules:
  - id: child
    description: a child goes to police and child protection
    when: {victim_minor: true}
    then:
      recipients: [{kind: police}, {kind: child_protection}]
  - id: adult-consent
    description: an adult who consented goes to police
    when: {victim_minor: false, consent: [GIVEN]}
    then:
      recipients: [{kind: police}]
  - id: adult-services
    description: an adult goes to the services she consented to
    when: {victim_minor: false}
    then:
      recipients: [{consented_kinds: true}]
      exclude_kinds: [hotline]
  - id: no-consent-no-police
    description: no police without consent
    when: {victim_minor: false, consent: [REFUSED, NOT_ASKED]}
    then:
      exclude_kinds: [police, international_partner]
  - id: imminent
    description: imminent danger is P1
    when: {severity: [IMMINENT_DANGER]}
    then: {priority: P1, ack_sla: 15m}
"""


def files(tmp_path: Path, rules: str = RULES, directory: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    d, r = tmp_path / "recipients.yaml", tmp_path / "rules.yaml"
    d.write_text(yaml.safe_dump({"version": 1, "recipients": directory or DIRECTORY}), encoding="utf-8")
    r.write_text(rules, encoding="utf-8")
    return d, r


def with_changes(directory: list[dict[str, Any]], rid: str, **changes: Any) -> list[dict[str, Any]]:
    """The directory with one entry changed."""
    return [x if x["id"] != rid else {**x, **changes} for x in directory]


COUNTRIES = sorted(c.alpha_2 for c in pycountry.countries)
PEOPLE = [p for p in itertools.product(AGE_BANDS, (False, True), CONSENTS) if valid_person(*p)]


def concrete_cases(ruleset: RuleSet) -> st.SearchStrategy[CaseView]:
    """Any valid combination: every province, every country, any set of consented services, any platform."""
    named = sorted({j for r in ruleset.directory.recipients.values() for j in r.jurisdictions})
    places = sorted(set(jurisdictions.vn_units()) | set(named) | set(COUNTRIES))
    country = st.one_of(st.none(), st.sampled_from(named), st.sampled_from(COUNTRIES))

    @st.composite
    def build(draw: st.DrawFn) -> CaseView:
        age, minor, consent = draw(st.sampled_from(PEOPLE))
        return CaseView(
            "case-h",
            "report-h",
            draw(st.sampled_from(CATEGORIES)),
            draw(st.sampled_from(SEVERITIES)),
            minor,
            age,
            consent,
            tuple(draw(st.sets(st.sampled_from(KINDS)))),
            draw(st.sampled_from(places)),
            draw(country),
            draw(country),
            draw(st.one_of(st.none(), st.text(max_size=12))),
            draw(st.booleans()),
        )

    return build()
