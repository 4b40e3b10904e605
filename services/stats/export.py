"""Published WeeklyStatistics records as CSV, JSON and a plain-text table, suppression marked."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

SUPPRESSED = "suppressed"
TOTAL = "TOTAL"
FIELDS = ("week", "table_id", "metric", "row_dimension", "row", "column_dimension", "column", "value", "status")


def rows(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One flat row per published entry (cells, margins, totals); `status` is `published` or `suppressed`."""
    for t in record["tables"]:
        cols = t["columns"] or [None]
        base = {
            "week": record["week"],
            "table_id": t["table_id"],
            "metric": t["metric"],
            "row_dimension": t["row_dimension"],
            "column_dimension": t["column_dimension"],
        }
        n = 0
        for r in t["rows"]:
            for c in cols:
                yield _row(base, r, c, t["cells"][n])
                n += 1
        for r, v in zip(t["rows"], t["row_totals"], strict=False):
            yield _row(base, r, TOTAL, v)
        for c, v in zip(t["columns"], t["column_totals"], strict=False):
            yield _row(base, TOTAL, c, v)
        yield _row(base, TOTAL, TOTAL if t["columns"] else None, t["total"])


def _row(base: dict[str, Any], row: str, column: str | None, value: int | None) -> dict[str, Any]:
    return {
        **base,
        "row": row,
        "column": column,
        "value": value,
        "status": SUPPRESSED if value is None else "published",
    }


def to_csv(records: list[dict[str, Any]]) -> str:
    """CSV of every entry of every record; a suppressed value is empty with status `suppressed`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerows(rows(record))
    return buf.getvalue()


def to_json(records: list[dict[str, Any]]) -> str:
    """The records as JSON (a suppressed value is null; the `suppressed` lists name them explicitly)."""
    out = []
    for record in records:
        marked = dict(record)
        marked["tables"] = [
            {**t, "suppressed_cells": [i for i, v in enumerate(t["cells"]) if v is None]} for t in record["tables"]
        ]
        out.append(marked)
    return json.dumps({"weeks": out}, ensure_ascii=False, indent=1)


def text(record: dict[str, Any], table_id: str = "cases_by_category_province") -> str:
    """A terminal table of one table's non-empty rows and columns, `x` where suppressed."""
    t = next(t for t in record["tables"] if t["table_id"] == table_id)
    k = record["k"]
    cols = t["columns"] or ["ALL"]

    def show(v: int | None) -> str:
        return "x" if v is None else str(v)

    keep_cols = [j for j, c in enumerate(cols) if not t["column_totals"] or t["column_totals"][j] != 0]
    lines = [f"{record['week']} ({record['week_start']})  {t['table_id']}  (k={k}; x = suppressed)"]
    if t["withheld"]:
        total = "suppressed" if t["total"] is None else t["total"]
        lines.append(f"  withheld whole: too few cases for any cell to be published safely (total {total})")
        return "\n".join(lines)
    two_way = bool(t["columns"])
    header = (
        [t["row_dimension"], *(cols[j] for j in keep_cols), TOTAL] if two_way else [t["row_dimension"], t["metric"]]
    )
    body = []
    for i, r in enumerate(t["rows"]):
        vals = [t["cells"][i * len(cols) + j] for j in keep_cols]
        total = t["row_totals"][i] if two_way else t["cells"][i]
        if total == 0:
            continue
        body.append([r, *map(show, vals), show(total)] if two_way else [r, show(total)])
    footer = [TOTAL, *(show(t["column_totals"][j]) for j in keep_cols)] if two_way else [TOTAL]
    footer.append(show(t["total"]))
    table = [header, *body, footer]
    widths = [max(len(str(row[c])) for row in table) for c in range(len(header))]
    for row in table:
        lines.append(
            "  ".join(
                str(v).rjust(w) if n else str(v).ljust(w) for n, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    if record["withheld_provinces"] and t["columns"]:
        lines.append(
            f"withheld (fewer than {record['min_province_total']} cases): {', '.join(record['withheld_provinces'])}"
        )
    return "\n".join(lines)
