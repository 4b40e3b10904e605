"""`referral-bus status REPORT_ID` (or AGENCY/REPORT_ID): what became of a report, as its agency sees it.

Reads the agency's own status topic `referrals.status.<agency>.v1` (every registered agency's when no
agency is given) and prints the report's steps in order: accepted or rejected by intake (with the
error), which kinds of recipient it went to, each decline, re-route, acceptance and completion.
Recipient kinds and codes only, never who the recipients are (docs/lifecycle.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.errors import ReferralBusError
from referral_bus.settings import KafkaSettings, config_file
from referral_devstack.reading import read_to_end
from referral_domain.agencies import load_agencies


def parse_target(text: str) -> tuple[str | None, str]:
    """`AGENCY/REPORT_ID` → (agency, report id); a bare `REPORT_ID` → (None, report id)."""
    agency, sep, report_id = text.partition("/")
    if not sep:
        return None, text
    if not agency or not report_id:
        raise ReferralBusError(f"{text!r}: give REPORT_ID or AGENCY/REPORT_ID")
    return agency, report_id


def timeline(records: Iterable[Mapping[str, Any]], report_id: str, agency: str | None = None) -> list[dict[str, Any]]:
    """The report's status events, oldest first, each once (a replayed event repeats its status_id)."""
    seen: set[str] = set()
    out = []
    for r in records:
        if r["report_id"] != report_id or (agency is not None and r["agency_id"] != agency):
            continue
        if r["status_id"] not in seen:
            seen.add(r["status_id"])
            out.append(dict(r))
    return sorted(out, key=lambda r: r["at"])


def line(r: Mapping[str, Any]) -> str:
    """One event as a line of text."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["at"] / 1000))
    parts = [when, f"{r['event']:<16}"]
    if r.get("recipient_kinds"):
        parts.append("kinds: " + ", ".join(r["recipient_kinds"]))
    if r["event"] == "INTAKE_REJECTED":
        field = f" (field {r['field']})" if r.get("field") else ""
        parts.append(f"{r.get('reason_code')}{field}: {r.get('detail') or ''}")
    elif r.get("reason_code"):
        parts.append(f"reason: {r['reason_code']}")
    if r.get("outcome_code"):
        parts.append(f"outcome: {r['outcome_code']}")
    return "  ".join(parts)


async def collect(agencies: list[str], kafka: KafkaSettings) -> list[dict[str, Any]]:
    """Every status event on the given agencies' status topics."""
    codec = Codec()
    batches = await asyncio.gather(
        *(read_to_end(kafka, topics.name(topics.status_topic(a)), partial=True) for a in agencies)
    )
    out = []
    for batch in batches:
        for rec in batch:
            try:
                out.append(codec.decode(rec.value, "ReportStatus"))
            except ReferralBusError:
                continue
    return out


def _run(args: argparse.Namespace) -> int:
    agency, report_id = parse_target(args.report)
    registry = load_agencies(Path(args.agencies))
    if agency is not None and agency not in registry.agencies:
        raise ReferralBusError(f"agency {agency} is not in the agency registry {args.agencies}")
    agencies = [agency] if agency else sorted(registry.agencies)
    events = timeline(asyncio.run(collect(agencies, KafkaSettings())), report_id, agency)
    if args.json:
        print(json.dumps(events, indent=2, ensure_ascii=False))
        return 0 if events else 1
    if not events:
        print(f"no status for report {report_id}" + (f" of agency {agency}" if agency else ""))
        return 1
    first = events[0]
    case = next((e["case_id"] for e in events if e.get("case_id")), None)
    print(f"report {report_id} of agency {first['agency_id']}" + (f" (case {case})" if case else ""))
    for e in events:
        print("  " + line(e))
    return 0


def register(sub: Any) -> None:
    """Add the `status` command."""
    p = sub.add_parser("status", help="what became of a report (the agency's status topic)")
    p.add_argument("report", metavar="REPORT_ID|AGENCY/REPORT_ID", help="the report (and its agency)")
    p.add_argument("--agencies", default=str(config_file("agencies.yaml")), help="agency registry file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
