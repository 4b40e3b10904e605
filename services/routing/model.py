"""The rules file as pydantic models: conditions (`when`), actions (`then`) and the file around them.

These models are the single source of both validation (`referral-bus rules check`) and the
published JSON Schema (config/schema/rules.schema.json), so the two never disagree.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from referral_domain import jurisdictions
from referral_domain.directory import Kind
from referral_domain.vocabulary import AgeBand, Category, Consent, Severity

Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
Place = Literal["victim_jurisdiction", "offender_country", "hosting_country"]

DURATION_PATTERN = r"^\s*\d+\s*[smhd]?\s*$"
_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _valid_duration(value: str | int) -> str | int:
    """Refuse a duration `parse_duration` cannot read (its message says what is wrong)."""
    parse_duration(value)
    return value


Duration = Annotated[
    str | int,
    AfterValidator(_valid_duration),
    Field(
        description="Seconds (integer) or a number followed by s, m, h or d, e.g. 15m, 4h, 2d.",
        json_schema_extra={"pattern": DURATION_PATTERN},
    ),
]


def parse_duration(value: str | int) -> int:
    """Seconds from `90`, `"90"`, `15m`, `4h` or `2d`."""
    if isinstance(value, bool):
        raise ValueError("a duration must be seconds or a number followed by s, m, h or d, not true/false")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"duration {value} must be positive")
        return value
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError(f"duration {value!r} must be seconds or a number followed by s, m, h or d (e.g. 15m, 4h)")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    return seconds


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Model):
    """All given conditions must hold (AND); a list means any of its values (OR)."""

    category: list[Category] | None = Field(default=None, description="Case category is one of these.")
    severity: list[Severity] | None = Field(default=None, description="Severity is one of these.")
    victim_minor: bool | None = Field(default=None, description="Victim is (true) or is not (false) a child.")
    age_band: list[AgeBand] | None = Field(default=None, description="Victim age band is one of these.")
    consent: list[Consent] | None = Field(default=None, description="Survivor consent state is one of these.")
    victim_jurisdiction: list[str] | None = Field(
        default=None,
        description="Victim is in one of these ISO 3166-1 countries or ISO 3166-2 subdivisions "
        "(a country code matches all its subdivisions).",
    )
    offender_abroad: bool | None = Field(
        default=None, description="Offender's country is known and differs from the victim's country."
    )
    hosting_abroad: bool | None = Field(
        default=None, description="Hosting country is known and differs from the victim's country."
    )
    offender_or_hosting_abroad: bool | None = Field(
        default=None, description="Either the offender or the content is abroad."
    )
    platform: list[str] | None = Field(default=None, description="Platform name (case-insensitive) is one of these.")
    preservation_requested: bool | None = Field(
        default=None, description="The reporter asked for preservation of stored data (evidence at risk)."
    )

    @field_validator("victim_jurisdiction")
    @classmethod
    def _codes(cls, codes: list[str] | None) -> list[str] | None:
        if codes:
            bad = [c for c in codes if not jurisdictions.is_known(c)]
            if bad:
                raise ValueError(f"unknown jurisdiction code(s) {', '.join(bad)}")
            return [jurisdictions.normalise(c) for c in codes]
        return codes


class Selector(_Model):
    """Recipients by id, by kind at a place, or the kinds the survivor consented to at her jurisdiction."""

    id: str | None = Field(default=None, description="A recipient id from the directory.")
    kind: Kind | None = Field(default=None, description="Every recipient of this kind acting at `at`.")
    consented_kinds: bool = Field(
        default=False, description="Every recipient of a kind listed in the case's consented_services, at `at`."
    )
    at: Place = Field(
        default="victim_jurisdiction",
        description="Where to look for `kind`: the victim's jurisdiction (falls back from province to national), "
        "or the offender's or hosting country (international partners: the 24/7 contact point).",
    )

    @model_validator(mode="after")
    def _one(self) -> Selector:
        if sum([self.id is not None, self.kind is not None, self.consented_kinds]) != 1:
            raise ValueError("a recipient selector needs exactly one of id, kind or consented_kinds")
        return self


class Actions(_Model):
    """What a fired rule does."""

    recipients: list[Selector] = Field(default=[], description="Recipients to refer the case to.")
    exclude_kinds: list[Kind] = Field(
        default=[], description="Safeguard: recipients of these kinds are removed, whichever rule chose them."
    )
    priority: Priority | None = Field(default=None, description="Priority; the most urgent of the fired rules wins.")
    ack_sla: Duration | None = Field(
        default=None, description="Acknowledgement SLA; the shortest of the fired rules wins."
    )
    escalation_target: str | None = Field(default=None, description="Recipient id to escalate to on a missed SLA.")
    preservation_request: bool = Field(default=False, description="Emit an expedited preservation request.")


class Rule(_Model):
    """One rule: id, description, `when` conditions and `then` actions."""

    id: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: Annotated[str, Field(min_length=1)]
    when: Conditions = Conditions()
    then: Actions


class RulesHeader(_Model):
    """The rules file's top-level fields; each rule is validated on its own so every error is named."""

    version: int = Field(default=1, description="Format version of this file.")
    default_recipient: str = Field(
        description="Recipient id for a child's case that no rule routes (flagged unmatched)."
    )
    default_recipient_adult: str | None = Field(
        default=None,
        description="Recipient id for an adult's case that no rule routes; none (the default) holds the case for "
        "the reporting agency's follow-up, with no referral (flagged unmatched, listed by `referrals pending`).",
    )
    default_priority: Priority = Field(default="P3", description="Priority when no fired rule sets one.")
    default_ack_sla: Duration = Field(default="24h", description="SLA when no fired rule sets one.")
    rules: Annotated[list[Any], Field(min_length=1)]


class RulesDocument(RulesHeader):
    """The whole rules file, for the published JSON Schema."""

    model_config = ConfigDict(title="referral-bus routing rules", extra="forbid", frozen=True)

    rules: Annotated[list[Rule], Field(min_length=1, description="Rules; every rule whose conditions hold fires.")]
