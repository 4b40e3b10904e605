"""`referral-bus audit verify|case|recipient`: the ledger checked, and who received which fields and when.

`verify` walks referrals.ledger.v1 (or a copy: `--topic`) partition by partition and reports every gap,
edit, reorder, insertion, forged checkpoint or cut tail with its partition, offset and seq (exit 1);
the anchor is the ledger worker's own head table (its changelog) unless `--anchor FILE` gives a saved
one (`--save-anchor FILE` writes today's). `case` answers a survivor's "who has my data?"; `recipient`
lists what one recipient received in a period, for an oversight body. Field paths only, never values.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.errors import ReferralBusError
from referral_bus.settings import KafkaSettings, read_secret
from referral_bus.topic_catalog import changelog
from referral_devstack.reading import read_to_end
from services.ledger.audit import Located, Summary, for_case, for_recipient, verify_all
from services.ledger.chain import Head
from services.ledger.settings import LedgerSettings

KEY_SECRET = "ledger-checkpoint-key"  # noqa: S105 - the secret's name, not its value


def _ms(text: str | None) -> int | None:
    """An ISO date or date-time (UTC unless it says otherwise) as epoch milliseconds."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ReferralBusError(
            f"not an ISO date or date-time: {text!r} (e.g. 2026-12-01 or 2026-12-01T08:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _iso(ms: int | None) -> str:
    return "-" if ms is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


async def read_ledger(kafka: KafkaSettings, topic: str | None = None, *, timeout: float = 60.0) -> list[Located]:
    """Every ledger entry up to the current end, in partition and offset order."""
    codec = Codec()
    raw = await read_to_end(kafka, topic or topics.name(topics.LEDGER), timeout=timeout)
    out: list[Located] = []
    for r in sorted(raw, key=lambda r: (r.partition, r.offset)):
        try:
            out.append((r.partition, r.offset, codec.decode(r.value or b"", "LedgerEntry")))
        except ReferralBusError:  # an undecodable record in the ledger is itself tampering: a broken entry
            out.append((r.partition, r.offset, {"partition": r.partition, "digest": "", "prev_digest": ""}))
    return out


async def read_anchors(kafka: KafkaSettings) -> dict[int, Head]:
    """The ledger worker's head per partition, from its `heads` table's changelog (the latest per key)."""
    ns = topics.namespace()
    name = f"{ns + '.' if ns else ''}{changelog('ledger', 'heads')}"
    anchors: dict[int, Head] = {}
    for r in await read_to_end(kafka, name, timeout=30.0):
        key = (r.key or b"").decode("utf-8", "replace").strip('"')
        if key.startswith("p") and key[1:].isdigit() and r.value:
            anchors[int(key[1:])] = Head.of(json.loads(r.value))
    return anchors


async def read_rules_versions(kafka: KafkaSettings) -> dict[str, str]:
    """decision_id → rules_version from the decisions topic."""
    codec = Codec()
    out = {}
    for r in await read_to_end(kafka, topics.name(topics.DECISIONS), timeout=60.0):
        try:
            d = codec.decode(r.value or b"", "RoutingDecision")
        except ReferralBusError:
            continue
        out[d["decision_id"]] = d["rules_version"]
    return out


def _key() -> bytes | None:
    value = read_secret(LedgerSettings().secrets_dir, KEY_SECRET)
    return value.encode("utf-8") if value else None


def _print_summaries(summaries: list[Summary], key: bytes | None) -> int:
    problems = [p for s in summaries for p in s.problems]
    for s in summaries:
        state = "intact" if not s.problems else f"{len(s.problems)} problem(s)"
        print(
            f"partition {s.partition}: {s.entries} entries, head seq {s.head.seq}, "
            f"{s.checkpoints} checkpoint(s): {state}"
        )
    for p in problems:
        print(f"  {p}")
    if key is None:
        print(
            "note: no ledger-checkpoint-key (LEDGER_SECRETS_DIR or REFERRAL_BUS_SECRET_LEDGER_CHECKPOINT_KEY): "
            "checkpoint signatures not checked"
        )
    print("ledger intact" if not problems else f"ledger NOT intact: {len(problems)} problem(s)")
    return 0 if not problems else 1


def _verify(args: argparse.Namespace) -> int:
    kafka = KafkaSettings()
    entries = asyncio.run(read_ledger(kafka, args.topic))
    if args.anchor:
        saved = json.loads(Path(args.anchor).read_text(encoding="utf-8"))
        anchors = {int(p): Head.of(h) for p, h in saved.items()}
    elif args.topic:
        anchors = {}
    else:
        anchors = asyncio.run(read_anchors(kafka))
    key = _key()
    summaries = verify_all(entries, key=key, anchors=anchors, from_start=not args.allow_expired_start)
    if args.save_anchor:
        heads = {str(s.partition): s.head.as_dict() for s in summaries if not s.problems}
        Path(args.save_anchor).write_text(json.dumps(heads, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return _print_summaries(summaries, key)


def _rows(found: list[dict[str, Any]], rules: dict[str, str]) -> None:
    for f in found:
        if f["kind"] == "ERASURE":
            print(f"{_iso(f.get('requested_at'))}  ERASED  case {f['case_id']}  reason {f.get('reason')}")
            continue
        rules_version = f.get("rules_version") or rules.get(f.get("decision_id") or "", "-")
        print(
            f"{_iso(f['at'])}  {f['recipient_id']}  via {f['channel']} ({f['purpose']})  case {f['case_id']}  "
            f"referral {f['referral_id']}  profile {f['data_profile']}@{f['profile_version']}  "
            f"rules {rules_version}  safeguards {f.get('safeguards_version') or '-'}  digest {f['payload_digest']}"
        )
        print(f"    fields: {', '.join(f['fields'])}")


def _case(args: argparse.Namespace) -> int:
    kafka = KafkaSettings()
    agency = report = None
    if args.report:
        agency, _, report = args.report.partition("/")
        if not agency or not report:
            raise ReferralBusError("--report takes AGENCY/REPORT_ID")
    if not args.case_id and not args.report:
        raise ReferralBusError("give a CASE_ID or --report AGENCY/REPORT_ID")
    found = for_case(asyncio.run(read_ledger(kafka)), case_id=args.case_id, agency_id=agency, report_id=report)
    rules = asyncio.run(read_rules_versions(kafka)) if found else {}
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return 0
    _rows(found, rules)
    print(f"{sum(1 for f in found if f['kind'] == 'DISCLOSURE')} disclosure(s)")
    return 0


def _recipient(args: argparse.Namespace) -> int:
    kafka = KafkaSettings()
    found = for_recipient(
        asyncio.run(read_ledger(kafka)), args.recipient_id, from_ms=_ms(args.from_), to_ms=_ms(args.to)
    )
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return 0
    _rows(found, asyncio.run(read_rules_versions(kafka)) if found else {})
    print(f"{len(found)} disclosure(s) to {args.recipient_id}")
    return 0


def register(sub: Any) -> None:
    """Add `audit verify|case|recipient` to the command line."""
    p = sub.add_parser("audit", help="verify the disclosure ledger; who received which fields of a case")
    cmds = p.add_subparsers(dest="audit_command", required=True)
    v = cmds.add_parser("verify", help="walk the ledger; report any gap, edit, reorder, insertion or deletion")
    v.add_argument("--topic", help="verify this topic (a copy of the ledger) instead of referrals.ledger.v1")
    v.add_argument("--anchor", help="a saved anchor (JSON from --save-anchor) instead of the worker's head table")
    v.add_argument("--save-anchor", help="write the verified heads to this file, for a later --anchor")
    v.add_argument("--allow-expired-start", action="store_true", help="accept a chain whose start retention removed")
    v.set_defaults(func=_verify)
    c = cmds.add_parser("case", help="who received which fields of one case, and when")
    c.add_argument("case_id", nargs="?", help="the case id")
    c.add_argument("--report", help="find the case by AGENCY/REPORT_ID instead")
    c.add_argument("--json", action="store_true", help="the disclosures as JSON")
    c.set_defaults(func=_case)
    r = cmds.add_parser("recipient", help="what one recipient received in a period")
    r.add_argument("recipient_id")
    r.add_argument("--from", dest="from_", help="from this ISO date or time (UTC), inclusive")
    r.add_argument("--to", help="to this ISO date or time (UTC), exclusive")
    r.add_argument("--json", action="store_true", help="the disclosures as JSON")
    r.set_defaults(func=_recipient)
