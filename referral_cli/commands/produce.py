"""`referral-bus produce FILE.jsonl`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from referral_bus import tracing
from referral_cli.commands import add, arg
from referral_devstack.produce import produce


def _run(args: argparse.Namespace) -> int:
    tracing.configure("referral-bus-cli")
    try:
        records = asyncio.run(produce(Path(args.file), agency=args.as_agency))
    finally:
        tracing.shutdown()
    for r in records:
        print(f"produced {r.report_id} (line {r.line})")
    print(f"{len(records)} report(s) produced")
    return 0


def register(sub: Any) -> None:
    """Add the `produce` command."""
    as_agency = arg(
        "--as-agency",
        metavar="AGENCY_ID",
        help="produce to this agency's own intake topic referrals.intake.<id>.v1 (what its Kafka login may "
        "write to); every line must carry this agency_id. Without it: the internal intake topic (local use)",
    )
    file = arg("file", help="JSON lines, one CaseReport per line (ISO 8601 timestamps allowed)")
    add(sub, "produce", _run, "an agency's JSON-lines reports → Avro → intake topic", file, as_agency)
