"""A worker's tables as its app.py declares them, read in a process of its own (`declared`).

Importing an app builds its Faust app and tables without connecting, but sets up the process's logging, tracing
and metrics for that worker: hence a fresh interpreter per app. There, rows given as JSON are written through the
app's own table object as a handler writes them (`put` inside an event) and as a restart recovers them (a
changelog record), and each part of the value the table then holds is checked with `gc.is_tracked`.

    python -m tests.support.app_tables <app module> <rows JSON file> <report JSON file>
"""

from __future__ import annotations

import gc
import importlib
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from referral_bus.inflight import Pending, current
from referral_bus.settings import REPO_ROOT
from referral_bus.tables import Table
from referral_devstack.processes import untraced_environment
from tests.support.tables import record


def declared(app_module: str, rows: Mapping[str, Any], work: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The started interpreter reporting `app_module`'s tables to `work/report.json` (read it with `report`)."""
    (work / "rows.json").write_text(json.dumps(rows), encoding="utf-8")
    with (work / "output.txt").open("w", encoding="utf-8") as output:
        return subprocess.Popen(
            [sys.executable, "-m", __name__, app_module, str(work / "rows.json"), str(work / "report.json")],
            cwd=REPO_ROOT,
            env={**untraced_environment(), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def report(proc: subprocess.Popen[bytes], work: Path) -> dict[str, Any]:
    """What `declared`'s interpreter found: each table's packed fields, the tracked parts of each row it held."""
    proc.wait(timeout=120)
    assert proc.returncode == 0, (work / "output.txt").read_text(encoding="utf-8")[-3000:]
    found: dict[str, Any] = json.loads((work / "report.json").read_text(encoding="utf-8"))
    return found


def tracked_parts(value: Any) -> list[str]:
    """The parts of a held row the collector walks: the row itself ("row") and each field holding a tracked object."""
    gc.collect()  # as a full collection would: what stays tracked after it
    parts = [f for f, v in value.items() if gc.is_tracked(v)] if isinstance(value, dict) else []
    return (["row"] if gc.is_tracked(value) else []) + parts


def _written(table: Table, key: str, row: Any) -> Any:
    """`row` put through `table` inside an event of partition 0 (its changelog record left unsent), as held."""
    table.partition_for_key = lambda key: 0  # type: ignore[method-assign]  # no Faust event here
    token = current.set(Pending())
    try:
        table.put(key, row)
    finally:
        current.reset(token)
    return table.data[key]


def _recovered(table: Table, key: str, row: Any) -> Any:
    """`row` as a changelog record recovered into `table` (Faust's recovery path), as held."""
    table.apply_changelog_batch([record(key, row, 0)])
    return table.data[key]


def main(app_module: str, rows_file: str, report_file: str) -> None:
    app = importlib.import_module(app_module).app
    rows = json.loads(Path(rows_file).read_text(encoding="utf-8"))
    tables = {name: t for name, t in app.tables.items() if isinstance(t, Table)}
    held = {}
    for name, row in rows.items():
        written = _written(tables[name], "written", json.loads(json.dumps(row)))
        recovered = _recovered(tables[name], "recovered", json.loads(json.dumps(row)))
        held[name] = {"written": tracked_parts(written), "recovered": tracked_parts(recovered)}
    out = {"packed": {name: sorted(t.packed) for name, t in tables.items()}, "tracked": held}
    Path(report_file).write_text(json.dumps(out), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
