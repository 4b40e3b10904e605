"""The statistics dashboard: one self-contained HTML page (inline SVG and CSS), Vietnamese and English.

Drawn only from published WeeklyStatistics records, so it shows exactly what disclosure control let
out: a suppressed figure is drawn as a hatched mark (`x` in tables), a withheld province as such.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import yaml

from services.stats.dimensions import unit_name

# code → (Vietnamese, English) per dimension, as data: labels.yaml beside this module (package data).
_LABELS = yaml.safe_load(Path(__file__).with_name("labels.yaml").read_text(encoding="utf-8"))
CATEGORY, AGE, SEX, KIND = (
    {code: (vi, en) for code, (vi, en) in _LABELS[dimension].items()}
    for dimension in ("category", "age", "sex", "kind")
)
PALETTE = [
    "#1b6ca8",
    "#d1495b",
    "#edae49",
    "#00798c",
    "#66a182",
    "#8d5a97",
    "#e07a5f",
    "#3d405b",
    "#81b29a",
    "#f2cc8f",
    "#6d6875",
]

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;margin:0;
background:#f6f7f9;color:#1d2330}
header{background:#12355b;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;font-size:13px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:18px;padding:18px 28px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:14px 18px}
section h2{font-size:16px;margin:0 0 2px}section .en{color:#5a6270;font-size:13px;margin:0 0 10px}
.wide{grid-column:1/-1}svg text{font-size:11px;fill:#1d2330}.muted{fill:#8a93a3}
table.heat{border-collapse:collapse;font-size:12px}table.heat td,table.heat th{padding:3px 6px;text-align:right}
table.heat th{font-weight:600;text-align:left}.sup{color:#8a93a3;font-style:italic}
footer{padding:0 28px 24px;font-size:12px;color:#5a6270}
"""
HATCH = (
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="6" height="6" fill="#eef0f3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b5bcc8" stroke-width="2"/>'
    "</pattern></defs>"
)


def _label(table: dict[str, tuple[str, str]], key: str) -> str:
    vi, en = table.get(key, (key, key))
    return f"{vi} / {en}" if vi != en else vi


def _table(record: dict[str, Any], table_id: str) -> dict[str, Any] | None:
    return next((t for t in record["tables"] if t["table_id"] == table_id), None)


def _bars(
    items: list[tuple[str, int | None, str]], k: int, *, width: int = 520, unit: str = "", left: int = 210
) -> str:
    """Horizontal bars: (label, value or None when suppressed, note for withheld)."""
    top = max([v for _, v, _ in items if v is not None] + [1])
    row, right = 20, 60
    height = row * len(items) + 6
    out = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{HATCH}']
    for n, (name, value, note) in enumerate(items):
        y = n * row + 3
        out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>')
        if note:
            out.append(f'<text x="{left + 4}" y="{y + 13}" class="muted">{escape(note)}</text>')
        elif value is None:
            out.append(f'<rect x="{left}" y="{y}" width="28" height="15" fill="url(#hatch)"/>')
            out.append(f'<text x="{left + 34}" y="{y + 13}" class="muted">ẩn / suppressed</text>')
        else:
            w = max(1.0, (width - left - right) * value / top) if value else 0
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="15" fill="#1b6ca8" rx="2"/>')
            out.append(f'<text x="{left + w + 5:.1f}" y="{y + 13}">{value}{unit}</text>')
    out.append("</svg>")
    return "".join(out)


def _trend(records: list[dict[str, Any]]) -> str:
    """Line of weekly case totals, one point per week; a suppressed week is a hollow mark on the axis."""
    width, height, pad = 1000, 220, 46
    weeks = [r["week"] for r in records]
    totals = [(_table(r, "cases_by_category_province") or {}).get("total") for r in records]
    top = max([t for t in totals if t is not None] + [1])
    step = (width - 2 * pad) / max(1, len(weeks) - 1)

    def xy(i: int, v: int) -> tuple[float, float]:
        return pad + i * step, height - pad - (height - 2 * pad) * v / top

    out = [f'<svg role="img" width="100%" viewBox="0 0 {width} {height}">']
    out.append(f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#b5bcc8"/>')
    points = [xy(i, t) for i, t in enumerate(totals) if t is not None]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#d1495b" stroke-width="2.5"/>')
    for i, (week, t) in enumerate(zip(weeks, totals, strict=True)):
        x = pad + i * step
        out.append(f'<text x="{x:.1f}" y="{height - pad + 16}" text-anchor="middle">{escape(week)}</text>')
        if t is None:
            out.append(f'<circle cx="{x:.1f}" cy="{height - pad}" r="4" fill="#fff" stroke="#8a93a3"/>')
        else:
            px, py = xy(i, t)
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="#d1495b"/>')
            out.append(f'<text x="{px:.1f}" y="{py - 8:.1f}" text-anchor="middle">{t}</text>')
    out.append("</svg>")
    return "".join(out)


def _heat(records: list[dict[str, Any]], k: int) -> str:
    """Categories × weeks: published row totals, shaded by size; suppressed ones marked `x`."""
    weeks = [r["week"] for r in records]
    per_week = [_table(r, "cases_by_category_province") for r in records]
    rows = per_week[-1]["rows"] if per_week and per_week[-1] else list(CATEGORY)
    values = {
        (c, w): (t["row_totals"][t["rows"].index(c)] if t and c in t["rows"] else None)
        for w, t in zip(weeks, per_week, strict=True)
        for c in rows
    }
    top = max([v for v in values.values() if v] + [1])
    head = "".join(f"<th>{escape(w)}</th>" for w in weeks)
    body = []
    for n, c in enumerate(rows):
        cells = []
        for w in weeks:
            v = values[(c, w)]
            if v is None:
                cells.append('<td class="sup" title="ẩn / suppressed">x</td>')
            else:
                alpha = 0.08 + 0.6 * v / top
                cells.append(f'<td style="background:rgba(27,108,168,{alpha:.2f})">{v}</td>')
        swatch = f'<span style="color:{PALETTE[n % len(PALETTE)]}">■</span> '
        body.append(f"<tr><th>{swatch}{escape(_label(CATEGORY, c))}</th>{''.join(cells)}</tr>")
    return f'<table class="heat"><tr><th></th>{head}</tr>{"".join(body)}</table>'


def render(records: list[dict[str, Any]]) -> str:
    """The whole page for the records given (sorted by week); the last week is the one shown in detail."""
    if not records:
        content = "<section class='wide'><h2>Chưa có số liệu</h2><p class='en'>No statistics yet</p></section>"
        return _page("", content)
    last = records[-1]
    k = last["k"]
    cases = _table(last, "cases_by_category_province") or {"columns": [], "column_totals": []}
    withheld = set(last["withheld_provinces"])
    provinces = [
        (f"{unit_name(code)} ({code})", total, "không công bố / withheld" if code in withheld else "")
        for code, total in zip(cases["columns"], cases["column_totals"], strict=True)
    ]
    age = _table(last, "cases_by_age_band") or {"rows": [], "cells": []}
    sex = _table(last, "cases_by_sex") or {"rows": [], "cells": []}
    acks = [a for a in last["ack_times"] if a["province"] == "ALL"]
    ack_bars = []
    for a in acks:
        name = _label(KIND, a["recipient_kind"])
        ack_bars.append((f"{name} – trung vị/median", round(a["median_seconds"] / 60), ""))
        ack_bars.append((f"{name} – p90", round(a["p90_seconds"] / 60), ""))
    sections = [
        _section("Xu hướng hàng tuần: tổng số vụ việc", "Weekly trend: distinct cases", _trend(records), wide=True),
        _section("Xu hướng theo loại hành vi", "Trend by category (cases per week)", _heat(records, k), wide=True),
        _section(
            f"Theo tỉnh, thành phố – tuần {last['week']}",
            f"By provincial unit – week {last['week']}",
            _bars(provinces, k),
        ),
        _section(
            "Theo nhóm tuổi",
            "By age band",
            _bars([(_label(AGE, r), v, "") for r, v in zip(age["rows"], age["cells"], strict=True)], k),
        ),
        _section(
            "Theo giới tính của nạn nhân",
            "By sex of the victim",
            _bars([(_label(SEX, r), v, "") for r, v in zip(sex["rows"], sex["cells"], strict=True)], k),
        ),
        _section(
            "Thời gian xác nhận theo loại cơ quan nhận (phút)",
            "Time to acknowledge by recipient kind (minutes)",
            _bars(ack_bars, k, unit=" min", left=330)
            if ack_bars
            else f"<p class='en'>Dưới {k} xác nhận / fewer than {k} acknowledgements</p>",
        ),
    ]
    sub = (
        f"Tuần {escape(records[0]['week'])} – {escape(last['week'])} · k = {k} · "
        f"tỉnh dưới {last['min_province_total']} vụ không công bố / provinces below "
        f"{last['min_province_total']} cases withheld"
    )
    return _page(sub, "".join(sections))


def _section(vi: str, en: str, body: str, *, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f"<section{cls}><h2>{escape(vi)}</h2><p class='en'>{escape(en)}</p>{body}</section>"


def _page(sub: str, content: str) -> str:
    return (
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<title>Thống kê ẩn danh hàng tuần / Anonymised weekly statistics</title>"
        f"<style>{CSS}</style></head><body><header>"
        "<h1>Thống kê ẩn danh hàng tuần – xâm hại trẻ em và bạo lực giới trên mạng</h1>"
        "<p>Anonymised weekly statistics – online child sexual exploitation and technology-facilitated "
        f"gender-based violence</p><p>{sub}</p></header><main>{content}</main>"
        "<footer>Ô gạch chéo, x: số liệu bị ẩn để bảo vệ danh tính · Hatched, x: suppressed to protect "
        "identities (a count below k, or one hidden so that it cannot be worked out from the totals). "
        "Definitions / định nghĩa: docs/statistics.md</footer></body></html>"
    )
