"""How one case, decision or receipt maps onto the published dimensions (province unit, kinds, countries)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from referral_domain import jurisdictions
from services.stats.errors import StatsError

NATIONAL = "VN-XX"  # the "national / unknown" unit: Viet Nam without a province, or outside Viet Nam
UNKNOWN = "UNKNOWN"
OTHER_KIND = "other"
MAX_LABEL = 64


def province_unit(jurisdiction: str) -> str:
    """One of the 34 provincial units (ISO 3166-2), or NATIONAL for anything else."""
    code = jurisdictions.normalise(jurisdiction)
    return code if code in jurisdictions.vn_units() else NATIONAL


def units() -> list[str]:
    """The 34 provincial units in the data file's order, then NATIONAL."""
    return [*jurisdictions.vn_units(), NATIONAL]


def unit_name(code: str) -> str:
    """The Vietnamese name of a unit (`VN-HN` → `Hà Nội`); NATIONAL → `Toàn quốc / không rõ`."""
    return jurisdictions.vn_units().get(code, "Toàn quốc / không rõ")


def label(value: str | None) -> str:
    """A free-text dimension value (platform) made safe as a key part: trimmed, no `|`, UNKNOWN if empty."""
    text = (value or "").strip().replace("|", "/")[:MAX_LABEL]
    return text or UNKNOWN


def partner_countries(report: dict[str, Any], home: str) -> list[str]:
    """Countries other than `home` the case involves (victim, offender, hosting), sorted, no repeats."""
    found = {jurisdictions.country_of(report["victim"]["jurisdiction"])}
    for code in (report["offender"].get("country"), report.get("hosting_country")):
        if code:
            found.add(jurisdictions.normalise(code))
    return sorted(c for c in found if c != home)


OTHER_PLATFORM = "OTHER"
UNLISTED = "unlisted"


@dataclass(frozen=True)
class Kinds:
    """Agency kind per reporting agency (config/stats.yaml) and recipient kind per recipient (directory).

    Only names listed in the configuration are ever published: a platform or an agency id arrives as
    free text, and a row label is published even when its count is suppressed.
    """

    agencies: dict[str, str]
    recipients: dict[str, str]
    platforms: tuple[str, ...] = ()

    def platform(self, value: str | None) -> str:
        """The listed platform name (case-insensitive match), UNKNOWN when absent, OTHER otherwise."""
        if not value or not value.strip():
            return UNKNOWN
        wanted = value.strip().casefold()
        return next((p for p in self.platforms if p.casefold() == wanted), OTHER_PLATFORM)

    def agency_label(self, agency_id: str) -> str:
        """An agency id as a published label: listed ids as they are, anything else `unlisted`."""
        return agency_id if agency_id in self.agencies else UNLISTED

    def agency(self, agency_id: str) -> str:
        """The reporting agency's kind, or `other`."""
        return self.agencies.get(agency_id, OTHER_KIND)

    def recipient(self, recipient_id: str) -> str:
        """The recipient's kind, or `other` for a recipient no longer in the directory."""
        return self.recipients.get(recipient_id, OTHER_KIND)


def load_kinds(stats_path: Path, directory_path: Path) -> Kinds:
    """Read agency kinds and recipient kinds; a malformed file is a StatsError naming it."""
    try:
        stats = yaml.safe_load(stats_path.read_text(encoding="utf-8")) or {}
        directory = yaml.safe_load(directory_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        where = exc.filename if isinstance(exc, OSError) else f"{stats_path} or {directory_path}"
        raise StatsError(f"cannot read the statistics settings ({type(exc).__name__}): {where}") from None
    agencies = stats.get("agency_kinds") if isinstance(stats, dict) else None
    if not isinstance(agencies, dict) or not all(isinstance(v, str) for v in agencies.values()):
        raise StatsError(f"{stats_path}: needs an 'agency_kinds:' mapping of agency id to kind")
    platforms = stats.get("platforms") or []
    if not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms):
        raise StatsError(f"{stats_path}: 'platforms:' must be a list of platform names")
    recipients = {
        str(r["id"]): str(r["kind"]) for r in (directory.get("recipients") or []) if isinstance(r, dict) and "id" in r
    }
    return Kinds(
        agencies={str(k): v for k, v in agencies.items()},
        recipients=recipients,
        platforms=tuple(label(p) for p in platforms),
    )
