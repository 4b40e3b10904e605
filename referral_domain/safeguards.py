"""Safeguards as data (config/safeguards.yaml) and the one gate every referral passes before it is emitted.

Routing (rules, fallback, default), the notifier (SLA escalation, delivery, replayed dead letters) and
`referral-bus rules check` all call `Gate`; nothing here knows an agency's name: invariants speak of
case facts, recipient kinds and audiences, data profiles and channels.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from referral_bus.errors import RulesError
from referral_domain import jurisdictions
from referral_domain.directory import Directory, EmailChannel, Kind, Recipient, WebhookChannel
from referral_domain.vocabulary import AgeBand, Category, Consent, Severity
from referral_domain.yamlfile import YamlDocument

Profile = Literal["full", "need_to_know", "convention_minimal"]
SafeguardId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseCondition(_Model):
    """Which cases a safeguard is about: all given conditions hold (a list means any of its values)."""

    victim_minor: bool | None = Field(default=None, description="Victim is (true) or is not (false) a child.")
    consent: list[Consent] | None = Field(default=None, description="Survivor consent is one of these.")
    age_band: list[AgeBand] | None = Field(default=None, description="Victim age band is one of these.")
    category: list[Category] | None = Field(default=None, description="Case category is one of these.")
    severity: list[Severity] | None = Field(default=None, description="Severity is one of these.")
    victim_jurisdiction: list[str] | None = Field(
        default=None, description="Victim is in one of these ISO 3166 codes (a country code matches its subdivisions)."
    )


class RecipientMatch(_Model):
    """Which recipients a `never` safeguard forbids: any of the given tests matches."""

    kinds: list[Kind] = Field(default=[], description="Recipients of these kinds.")
    audiences: list[Literal["children", "adults"]] = Field(
        default=[], description="Recipients whose directory `audience` is one of these."
    )
    not_consented: bool = Field(
        default=False, description="Recipients of a kind the survivor did not list in consented_services."
    )


class Never(_Model):
    """A case matching `when` must never reach a recipient matching `recipients`."""

    id: SafeguardId
    description: Annotated[str, Field(min_length=1)]
    when: CaseCondition = CaseCondition()
    recipients: RecipientMatch


class Always(_Model):
    """A case matching `when` must always reach at least one recipient of each kind in `kinds`."""

    id: SafeguardId
    description: Annotated[str, Field(min_length=1)]
    when: CaseCondition = CaseCondition()
    kinds: Annotated[list[Kind], Field(min_length=1)]


class ProfileLimit(_Model):
    """Recipients of `kind` may only have one of `profiles`."""

    id: SafeguardId
    description: Annotated[str, Field(min_length=1)]
    kind: Kind
    profiles: Annotated[list[Profile], Field(min_length=1)]


class Transport(_Model):
    """Profiles carrying personal data only over encrypted channels."""

    id: SafeguardId
    description: Annotated[str, Field(min_length=1)]
    profiles: Annotated[list[Profile], Field(min_length=1)]
    webhook_schemes: list[Literal["https", "http"]] = Field(default=["https"], description="Allowed URL schemes.")
    email_tls: list[Literal["starttls", "implicit", "none"]] = Field(
        default=["starttls", "implicit"], description="Allowed e-mail TLS modes."
    )
    kafka: bool = Field(default=True, description="Whether the partner Kafka topic may carry these profiles.")


class SafeguardsFile(_Model):
    """The whole safeguards file, for the published JSON Schema (config/schema/safeguards.schema.json)."""

    model_config = ConfigDict(title="referral-bus safeguards", extra="forbid", frozen=True)

    version: int = 1
    never: list[Never] = Field(default=[], description="Who may never receive which cases.")
    always: list[Always] = Field(default=[], description="Who must always receive which cases.")
    profiles: list[ProfileLimit] = Field(default=[], description="Which data profiles a kind of recipient may have.")
    transport: list[Transport] = Field(default=[], description="Which channels may carry which profiles.")


@dataclass(frozen=True, slots=True)
class Facts:
    """The facts of a case that safeguards look at (no personal data)."""

    victim_minor: bool
    consent: str
    age_band: str
    category: str
    severity: str
    consented_services: frozenset[str]
    victim_jurisdiction: str = ""

    @classmethod
    def from_case(cls, case: Mapping[str, Any]) -> Facts:
        """From a decoded Case record."""
        r = case["report"]
        return cls(
            bool(r["victim"]["is_minor"]),
            r.get("consent", "NOT_ASKED"),
            r["victim"].get("age_band", "UNKNOWN"),
            r.get("category", "OTHER"),
            r.get("severity", "UNKNOWN"),
            frozenset(r.get("consented_services") or ()),
            jurisdictions.normalise(r["victim"]["jurisdiction"]),
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the gate refuses one recipient for one case (safe to log: ids and kinds only)."""

    safeguard_id: str
    recipient_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.recipient_id} refused by safeguard {self.safeguard_id}: {self.reason}"


def _holds(cond: CaseCondition, f: Facts) -> bool:
    return (
        (cond.victim_minor is None or cond.victim_minor == f.victim_minor)
        and (cond.consent is None or f.consent in cond.consent)
        and (cond.age_band is None or f.age_band in cond.age_band)
        and (cond.category is None or f.category in cond.category)
        and (cond.severity is None or f.severity in cond.severity)
        and (
            cond.victim_jurisdiction is None
            or f.victim_jurisdiction in cond.victim_jurisdiction
            or jurisdictions.country_of(f.victim_jurisdiction) in cond.victim_jurisdiction
        )
    )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (the only hosts a development setting may reach in clear)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport_of(recipient: Recipient) -> tuple[str, str, str]:
    """(channel type, security mode, host): `https`/`http` for webhooks, the TLS mode for e-mail."""
    ch = recipient.channel
    if isinstance(ch, WebhookChannel):
        parts = urlsplit(ch.url)
        return "webhook", parts.scheme.lower(), parts.hostname or ""
    if isinstance(ch, EmailChannel):
        return "email", ch.tls_mode, ch.smtp_host
    return "kafka", "kafka", ""


class Safeguards:
    """The loaded policy: checks one (case, recipient) pair and one case's whole set of recipients."""

    def __init__(self, policy: SafeguardsFile, *, dev_insecure_transport: bool = False, version: str = "") -> None:
        self.policy = policy
        self.dev_insecure_transport = dev_insecure_transport
        self.version = version
        # id(entry) → (entry, verdict): directory entries are immutable; holding the entry keeps its id unique
        self._by_recipient: dict[int, tuple[Recipient, Refusal | None]] = {}

    def refusal(self, facts: Facts, recipient: Recipient) -> Refusal | None:
        """The first safeguard that forbids this recipient for this case, or None."""
        return self.case_refusal(facts, recipient) or self.recipient_refusal(recipient)

    def case_refusal(self, facts: Facts, recipient: Recipient) -> Refusal | None:
        """A `never` safeguard this case breaks by reaching this recipient."""
        for rule in self.policy.never:
            if not _holds(rule.when, facts):
                continue
            m = rule.recipients
            if recipient.kind in m.kinds:
                return Refusal(rule.id, recipient.id, f"kind {recipient.kind} may not receive this case")
            if recipient.audience in m.audiences:
                return Refusal(rule.id, recipient.id, f"audience {recipient.audience} may not receive this case")
            if m.not_consented and recipient.kind not in facts.consented_services:
                return Refusal(rule.id, recipient.id, f"the survivor did not consent to kind {recipient.kind}")
        return None

    def recipient_refusal(self, recipient: Recipient) -> Refusal | None:
        """A profile or transport safeguard the recipient's directory entry breaks, whatever the case."""
        hit = self._by_recipient.get(id(recipient))
        if hit is not None and hit[0] is recipient:
            return hit[1]
        if len(self._by_recipient) > 10_000:
            self._by_recipient.clear()
        found = self._recipient_refusal(recipient)
        self._by_recipient[id(recipient)] = (recipient, found)
        return found

    def _recipient_refusal(self, recipient: Recipient) -> Refusal | None:
        for limit in self.policy.profiles:
            if recipient.kind == limit.kind and recipient.data_profile not in limit.profiles:
                return Refusal(
                    limit.id, recipient.id, f"kind {limit.kind} may not have data profile {recipient.data_profile}"
                )
        channel, mode, host = transport_of(recipient)
        for t in self.policy.transport:
            if recipient.data_profile not in t.profiles:
                continue
            allowed = (
                mode in t.webhook_schemes
                if channel == "webhook"
                else mode in t.email_tls
                if channel == "email"
                else t.kafka
            )
            if allowed or (self.dev_insecure_transport and channel != "kafka" and is_loopback(host)):
                continue
            return Refusal(
                t.id, recipient.id, f"profile {recipient.data_profile} may not travel over {channel} ({mode})"
            )
        return None

    def mandatory_kinds(self, facts: Facts) -> list[str]:
        """The recipient kinds the `always` safeguards require for this case (a child: police, child protection)."""
        return sorted({k for rule in self.policy.always if _holds(rule.when, facts) for k in rule.kinds})

    def missing(self, facts: Facts, recipients: Iterable[Recipient]) -> list[Refusal]:
        """`always` safeguards this case breaks with these recipients: one entry per missing kind."""
        kinds = {r.kind for r in recipients}
        out: list[Refusal] = []
        for rule in self.policy.always:
            if _holds(rule.when, facts):
                out.extend(
                    Refusal(rule.id, "-", f"no recipient of kind {k} for this case")
                    for k in rule.kinds
                    if k not in kinds
                )
        return out


class Gate:
    """The one check before a referral is emitted: routing, fallback, default, escalation, replay, delivery."""

    def __init__(self, safeguards: Safeguards, directory: Directory) -> None:
        self.safeguards = safeguards
        self.directory = directory

    def admit(self, facts: Facts, recipient_id: str) -> Refusal | None:
        """None when the case may go to this recipient; otherwise why not (unknown recipients are refused)."""
        r = self.directory.get(recipient_id)
        if r is None:
            return Refusal("directory", recipient_id, "not in the recipients directory")
        return self.safeguards.refusal(facts, r)

    def chain(self, start: str | None) -> list[str]:
        """An escalation chain from `start` following each recipient's own escalation_target, to its end."""
        out: list[str] = []
        while start is not None and start not in out:
            out.append(start)
            r = self.directory.get(start)
            start = r.escalation_target if r else None
        return out

    def escalation(self, facts: Facts, target: str | None) -> tuple[str | None, list[Refusal]]:
        """The first permitted recipient on the escalation chain from `target`, and the refusals before it."""
        refused: list[Refusal] = []
        for rid in self.chain(target):
            why = self.admit(facts, rid)
            if why is None:
                return rid, refused
            refused.append(why)
        return None, refused


def from_settings() -> Safeguards:
    """The safeguards named by REFERRAL_BUS_SAFEGUARDS_PATH, with the development transport setting."""
    from referral_bus.settings import SafeguardSettings

    s = SafeguardSettings()
    return load_safeguards(s.safeguards_path, dev_insecure_transport=s.dev_insecure_transport)


DEV_WARNING = (
    "DEVELOPMENT SETTING REFERRAL_BUS_DEV_INSECURE_TRANSPORT IS ON: personal data may travel in clear "
    "to loopback hosts and TLS certificates may go unverified. Never use it in production."
)


def load_safeguards(path: Path, *, dev_insecure_transport: bool = False) -> Safeguards:
    """Load and validate a safeguards file; RulesError names every problem with file and line."""
    from referral_domain.directory import file_hash

    doc = YamlDocument(path)
    try:
        policy = SafeguardsFile.model_validate(doc.data)
    except ValidationError as exc:
        raise RulesError(doc.errors(exc, (), "safeguards")) from None
    ids = [s.id for group in (policy.never, policy.always, policy.profiles, policy.transport) for s in group]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RulesError([f"{path}: duplicate safeguard id(s): {', '.join(dupes)}"])
    return Safeguards(policy, dev_insecure_transport=dev_insecure_transport, version=file_hash(path))
