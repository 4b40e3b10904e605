"""The agency registry (config/agencies.yaml): each agency's Kafka logins, and the recipients it acts for.

Identity comes from the transport, never from the payload: an agency writes its reports to its own
intake topic (`referrals.intake.<agency id>.v1`) and acknowledges referrals on its recipients' own
ack topics (`referrals.acks.<recipient id>.v1`); the Strimzi KafkaUser of each of its principals
(generated from this file by scripts/k8s/gen_topics.py) may write to those topics and no others.
Intake refuses a report whose `agency_id` is not its topic's agency; the notifier refuses an
acknowledgement whose `recipient_id` is not its topic's recipient.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from referral_bus import topics
from referral_bus.errors import RulesError
from referral_domain.yamlfile import YamlDocument

# Topic-safe and without "/" or ".": `<agency>/<report>` keys and topic names split unambiguously.
AgencyId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
# Content keys (hashes, URLs) one agency may claim per day for correlation, unless the registry says otherwise.
DEFAULT_CLAIMS_PER_DAY = 5000
Principal = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class Agency(BaseModel):
    """One agency that reports to the bus (and may receive and acknowledge referrals over Kafka)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: AgencyId
    name: Annotated[str, Field(min_length=1)]
    principals: Annotated[list[Principal], Field(min_length=1)]
    recipients: list[AgencyId] = []
    sample: bool = True
    correlation_claims_per_day: Annotated[int, Field(ge=0)] | None = None  # None: the registry's default


class Registry:
    """Agencies by id, and which agency or recipient each per-agency topic belongs to."""

    def __init__(self, agencies: list[Agency], claims_per_day: int = DEFAULT_CLAIMS_PER_DAY) -> None:
        self.agencies = {a.id: a for a in agencies}
        self.claims_per_day = claims_per_day

    def claim_limit(self, agency_id: str) -> int:
        """How many content keys the agency may claim for correlation per day (its own, else the default)."""
        agency = self.agencies.get(agency_id)
        own = agency.correlation_claims_per_day if agency else None
        return self.claims_per_day if own is None else own

    def intake_topics(self) -> dict[str, str]:
        """Contract name of each agency's intake topic → the agency id."""
        return {topics.intake_topic(a): a for a in self.agencies}

    def ack_topics(self) -> dict[str, str]:
        """Contract name of each recipient's ack topic → the recipient id (recipients some agency acts for)."""
        return {topics.acks_topic(r): r for a in self.agencies.values() for r in a.recipients}

    def status_topics(self) -> dict[str, str]:
        """Contract name of each agency's status topic → the agency id (only that agency reads it)."""
        return {topics.status_topic(a): a for a in self.agencies}


def load_agencies(path: Path) -> Registry:
    """Load and validate the registry; raise RulesError naming every problem with file and line."""
    doc = YamlDocument(path)
    problems = doc.top_level_list("agencies", "an agency registry", also=("correlation_claims_per_day",))
    per_day = doc.data.get("correlation_claims_per_day", DEFAULT_CLAIMS_PER_DAY)
    if isinstance(per_day, bool) or not isinstance(per_day, int) or per_day < 0:
        problems.append(f"{doc.where(('correlation_claims_per_day',))}: correlation_claims_per_day must be 0 or more")
        per_day = DEFAULT_CLAIMS_PER_DAY
    owner: dict[tuple[str, str], str] = {}  # (field, id or principal or recipient) → the agency that has it
    entries = doc.entries("agencies", Agency, "agency", problems)
    for i, agency in entries:
        claims = [("id", agency.id)] + [("principals", p) for p in agency.principals]
        claims += [("recipients", r) for r in agency.recipients]
        for field, name in claims:
            if (field, name) in owner:
                where = doc.where(("agencies", i, field), label=f"agency {agency.id}")
                problems.append(f"{where}: {field}: {name} already belongs to agency {owner[(field, name)]}")
            owner[(field, name)] = agency.id
    if problems:
        raise RulesError(problems)
    return Registry([a for _, a in entries], per_day)
