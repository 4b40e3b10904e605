"""The recipients directory (YAML): who exists, where they act, how to reach them, what they may see."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from referral_bus.errors import RulesError
from referral_domain import jurisdictions
from referral_domain.yamlfile import YamlDocument

Kind = Literal["police", "child_protection", "social_services", "hotline", "health", "international_partner"]
RecipientId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookChannel(_Model):
    """HTTPS POST of the referral as JSON, HMAC-signed."""

    type: Literal["webhook"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    timeout_seconds: float | None = None


class EmailChannel(_Model):
    """SMTP e-mail for agencies without an API."""

    type: Literal["email"]
    to: Annotated[list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]], Field(min_length=1)]
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    tls: Literal["starttls", "implicit", "none"] = Field(
        default="starttls",
        description="starttls (required, not opportunistic), implicit (SMTPS) or none (refused for personal data "
        "outside the development setting, and never with credentials)",
    )
    starttls: bool | None = Field(default=None, description="Deprecated: true = tls starttls, false = tls none.")
    sender: str = "referral-bus@example.invalid"

    @property
    def tls_mode(self) -> str:
        """The TLS mode in force (`tls`, or the deprecated `starttls` flag when only that is given)."""
        if "tls" not in self.model_fields_set and self.starttls is not None:
            return "starttls" if self.starttls else "none"
        return self.tls


class KafkaChannel(_Model):
    """The referral produced in Avro to the recipient's own topic (referrals.partner.<id>.v1)."""

    type: Literal["kafka"]


class InboxChannel(_Model):
    """The bus's own inbox web page (services/inbox, docs/inbox.md): for agencies with no system of their own."""

    type: Literal["inbox"]


Channel = Annotated[WebhookChannel | EmailChannel | KafkaChannel | InboxChannel, Field(discriminator="type")]

# Channels whose recipients act in the inbox: inbox ones, and e-mail ones through the signed link in each e-mail.
INBOX_CHANNELS = frozenset({"inbox", "email"})


class Recipient(_Model):
    """One agency or unit that can receive referrals."""

    id: RecipientId
    name: Annotated[str, Field(min_length=1)]
    kind: Kind
    jurisdictions: Annotated[list[str], Field(min_length=1)]
    channel: Channel
    data_profile: Literal["full", "need_to_know", "convention_minimal"] = "need_to_know"
    contact_point_24_7: bool = False
    ack_contact: str | None = None
    escalation_target: RecipientId | None = None
    audience: Literal["all", "children", "adults"] = Field(
        default="all",
        description="Whom the recipient serves (safeguards may forbid e.g. adults' cases to children's services).",
    )
    sample: bool = True

    @field_validator("jurisdictions")
    @classmethod
    def _codes(cls, codes: list[str]) -> list[str]:
        bad = [j for j in codes if not jurisdictions.is_known(j)]
        if bad:
            raise ValueError(f"unknown jurisdiction code(s) {', '.join(bad)}")
        return codes


class DirectoryFile(_Model):
    """The whole recipients file, for the published JSON Schema (config/schema/recipients.schema.json)."""

    model_config = ConfigDict(title="referral-bus recipients directory", extra="forbid", frozen=True)

    version: int = 1
    recipients: Annotated[list[Recipient], Field(min_length=1)]


class Directory:
    """All recipients by id, with lookups by kind and jurisdiction."""

    def __init__(self, recipients: list[Recipient], version: str) -> None:
        self.recipients = {r.id: r for r in recipients}
        self.version = version
        self._by_kind_at: dict[tuple[str, str], list[Recipient]] = {}
        for r in recipients:
            for code in r.jurisdictions:
                self._by_kind_at.setdefault((r.kind, jurisdictions.normalise(code)), []).append(r)

    def get(self, recipient_id: str) -> Recipient | None:
        """A recipient by id."""
        return self.recipients.get(recipient_id)

    def inbox_users(self) -> list[str]:
        """Ids of the recipients that sign in to the inbox (channel inbox or email), sorted."""
        return sorted(r.id for r in self.recipients.values() if r.channel.type in INBOX_CHANNELS)

    def at(self, kind: str, code: str) -> list[Recipient]:
        """Recipients of `kind` acting exactly at `code`."""
        return list(self._by_kind_at.get((kind, jurisdictions.normalise(code)), ()))


def file_hash(*paths: Path) -> str:
    """Short content hash of files: the rules version recorded in every decision."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def load_directory(path: Path) -> Directory:
    """Load and validate a recipients file; raise RulesError naming every problem with file and line."""
    doc = YamlDocument(path)
    problems = doc.top_level_list("recipients", "a recipients file")
    recipients = doc.entries("recipients", Recipient, "recipient", problems)
    seen: dict[str, int] = {}
    for i, r in recipients:
        label = f"recipient {r.id}"
        if r.id in seen:
            problems.append(
                f"{doc.where(('recipients', i, 'id'), label=label)}: id: duplicate (first on line {seen[r.id]})"
            )
        seen[r.id] = doc.line(("recipients", i, "id"))
    ids = {r.id for _, r in recipients}
    for i, r in recipients:
        if r.escalation_target and r.escalation_target not in ids:
            problems.append(
                f"{doc.where(('recipients', i, 'escalation_target'), label=f'recipient {r.id}')}: "
                f"escalation_target: no recipient with id {r.escalation_target!r}"
            )
    if problems:
        raise RulesError(problems)
    return Directory([r for _, r in recipients], file_hash(path))
