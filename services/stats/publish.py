"""One week's Figures → the WeeklyStatistics record, every table through disclosure control first."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from referral_domain.vocabulary import AGE_BANDS, CATEGORIES, SEXES
from services.stats import aggregate as m
from services.stats.dimensions import OTHER_KIND, Kinds, units
from services.stats.figures import Figures
from services.stats.suppression import TOTAL, Grid, Suppression, suppress
from services.stats.weeks import monday

ALL = "ALL"


@dataclass(frozen=True)
class Policy:
    """Disclosure-control settings: smallest published count, smallest province total published."""

    k: int = 5
    min_province_total: int = 10
    publish_after_hours: float = 24.0


def p90(values: list[int]) -> float:
    """90th percentile by the nearest-rank method (values sorted)."""
    return float(values[max(0, math.ceil(0.9 * len(values)) - 1)])


def _table(
    table_id: str,
    metric: str,
    rows: list[str],
    counts: Counter[tuple[str, ...]],
    *,
    row_dimension: str,
    columns: list[str] | None = None,
    policy: Policy,
    withheld_columns: Sequence[str] = (),
    controlled: bool = True,
    hide_total: bool = False,
) -> dict[str, Any]:
    """A StatisticsTable record: counts laid out, suppressed (when controlled), flattened row-major."""
    cols = columns or [ALL]
    values = [[counts.get((r, c) if columns else (r,), 0) for c in cols] for r in rows]
    grid = Grid(values, one_dim=columns is None)
    if controlled:
        s = suppress(
            grid,
            k=policy.k,
            withheld_columns=[cols.index(c) for c in withheld_columns],
            min_total=policy.min_province_total,
            hide_total=hide_total,
        )
    else:
        s = Suppression(grid)
    return {
        "table_id": table_id,
        "metric": metric,
        "row_dimension": row_dimension,
        "column_dimension": "province" if columns else None,
        "controlled": controlled,
        "withheld": s.withheld,
        "rows": rows,
        "columns": columns or [],
        "cells": [s.published(("cell", i, j)) for i in range(len(rows)) for j in range(len(cols))],
        "row_totals": [s.published(("row", i, 0)) for i in range(len(rows))] if columns else [],
        "column_totals": [s.published(("col", j, 0)) for j in range(len(cols))] if columns else [],
        "total": s.published(TOTAL),
    }


def withheld_provinces(fig: Figures, policy: Policy) -> list[str]:
    """Provinces with some, but fewer than the minimum, distinct cases this week."""
    totals = fig.margin(m.CASES, 1)
    return [u for u in units() if 0 < totals.get((u,), 0) < policy.min_province_total]


def weekly_statistics(fig: Figures, policy: Policy, kinds: Kinds, *, generated_at: int) -> dict[str, Any]:
    """The WeeklyStatistics record of one week (schemas/avro/WeeklyStatistics.avsc)."""
    provinces = units()
    withheld = withheld_provinces(fig, policy)
    cases_total = sum(fig.metric(m.CASES).values())
    linked_total = sum(fig.metric(m.LINKED).values())
    reports_total = cases_total + linked_total

    def seen(metric: str, pos: int, *extra: str) -> list[str]:
        return sorted({cell[pos] for cell in fig.metric(metric)} | set(extra))

    agency_kinds = seen(m.CASES, 4, *kinds.agencies.values(), OTHER_KIND)
    recipient_kinds = sorted(
        set(kinds.recipients.values())
        | {c[0] for name in (m.REFERRALS, m.ACKED, m.ESCALATIONS, m.DECLINES) for c in fig.metric(name)}
    )
    # (metric published, row dimension, row labels, counts) of every one-way table
    one_way = (
        ("cases", "age_band", list(AGE_BANDS), fig.margin(m.CASES, 2)),
        ("cases", "sex", list(SEXES), fig.margin(m.CASES, 3)),
        ("cases", "agency_kind", agency_kinds, fig.margin(m.CASES, 4)),
        ("cases", "platform", seen(m.CASES, 5), fig.margin(m.CASES, 5)),
        ("linked_reports", "category", list(CATEGORIES), fig.margin(m.LINKED, 0)),
        ("cross_border_cases", "partner_country", seen(m.CROSS_BORDER, 0), fig.metric(m.CROSS_BORDER)),
    )
    # (metric published, row dimension, row labels, counts) of every table by province
    by_province = [("cases", "category", list(CATEGORIES), fig.margin(m.CASES, 0, 1))] + [
        (name, "recipient_kind", recipient_kinds, fig.metric(metric))
        for metric, name in (
            (m.REFERRALS, "referrals"),
            (m.ACKED, "acknowledged"),
            (m.ACKED_IN_SLA, "acknowledged_within_sla"),
            (m.ESCALATIONS, "escalations"),
            (m.DECLINES, "declines"),
        )
    ]
    tables = [
        _table(
            f"{metric}_by_{dim}_province",
            metric,
            rows,
            counts,
            row_dimension=dim,
            columns=provinces,
            withheld_columns=withheld,
            policy=policy,
        )
        for metric, dim, rows, counts in by_province
    ]
    tables += [
        _table(f"{metric}_by_{dim}", metric, rows, counts, row_dimension=dim, policy=policy)
        for metric, dim, rows, counts in one_way
    ]
    tables += [  # data quality: messages, not people; not controlled
        _table(
            f"dead_letters_by_{dim}",
            "dead_letters",
            seen(metric, 0),
            fig.metric(metric),
            row_dimension=dim,
            policy=policy,
            controlled=False,
        )
        for metric, dim in ((m.DL_REASON, "reason"), (m.DL_AGENCY, "agency"))
    ]
    hidden_reports = 0 < reports_total < policy.k or 0 < linked_total < policy.k
    return {
        "week": fig.week,
        "week_start": monday(fig.week).isoformat(),
        "generated_at": generated_at,
        "k": policy.k,
        "min_province_total": policy.min_province_total,
        "reports_total": None if hidden_reports else reports_total,
        "withheld_provinces": withheld,
        "tables": tables,
        "ack_times": ack_times(fig, policy, withheld),
    }


def ack_times(fig: Figures, policy: Policy, withheld: list[str]) -> list[dict[str, Any]]:
    """Median and p90 per recipient kind (nationally and per province) where at least k were acknowledged."""
    national: dict[str, list[int]] = {}
    rows = []
    for (kind, prov), times in sorted(fig.ack_ms.items()):
        national.setdefault(kind, []).extend(times)
        if len(times) >= policy.k and prov not in withheld:
            rows.append(_timing(kind, prov, times))
    for kind, times in sorted(national.items()):
        if len(times) >= policy.k:
            rows.append(_timing(kind, ALL, sorted(times)))
    return rows


def _timing(kind: str, prov: str, times: list[int]) -> dict[str, Any]:
    return {
        "recipient_kind": kind,
        "province": prov,
        "median_seconds": statistics.median(times) / 1000,
        "p90_seconds": p90(times) / 1000,
    }
