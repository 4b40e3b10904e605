"""`referral-bus produce --as-agency ID`: an agency's reports go to its own intake topic, and only its own."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import pytest

from referral_bus import topics
from referral_bus.settings import REPO_ROOT
from referral_cli.main import main as cli
from referral_devstack.reading import read_topic

pytestmark = [pytest.mark.kafka]

EXAMPLES = [json.loads(line) for line in (REPO_ROOT / "examples" / "reports.jsonl").read_text().splitlines() if line]


def _file(tmp_path: Path, reports: list[dict[str, object]]) -> str:
    path = tmp_path / "reports.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in reports), encoding="utf-8")
    return str(path)


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli(argv)
    return code, err.getvalue()


async def test_reports_land_on_the_agencys_own_topic(kafka: str, namespace: str, tmp_path: Path) -> None:
    hotline = [r for r in EXAMPLES if r["agency_id"] == "vn-hotline-111"][:2]
    code, err = await asyncio.to_thread(_run, ["produce", _file(tmp_path, hotline), "--as-agency", "vn-hotline-111"])
    assert code == 0, err
    own = topics.name(topics.intake_topic("vn-hotline-111"))
    records = await read_topic(own, until=lambda rs: len(rs) >= 2, timeout=60)
    assert sorted(r.key for r in records) == sorted(f"vn-hotline-111/{r['report_id']}".encode() for r in hotline)


async def test_another_agencys_line_or_an_unregistered_agency_produces_nothing(
    kafka: str, namespace: str, tmp_path: Path
) -> None:
    mixed = [r for r in EXAMPLES if r["agency_id"] == "vn-hotline-111"][:1] + [
        r for r in EXAMPLES if r["agency_id"] == "platform-examplesocial"
    ][:1]
    code, err = await asyncio.to_thread(_run, ["produce", _file(tmp_path, mixed), "--as-agency", "vn-hotline-111"])
    assert code == 1 and "line(s) 2: agency_id is not vn-hotline-111" in err and "nothing produced" in err
    code, err = await asyncio.to_thread(_run, ["produce", _file(tmp_path, mixed[:1]), "--as-agency", "nobody"])
    assert code == 1 and "agency nobody is not in the agency registry" in err
    records = await read_topic(topics.name(topics.intake_topic("vn-hotline-111")), until=lambda rs: False, timeout=3)
    assert records == []
