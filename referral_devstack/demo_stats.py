"""The end of `make run`: the week's statistics for the sample reports, as the stats worker published them."""

from __future__ import annotations

from typing import Any

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.reading import read_topic


async def distinct_cases(codec: Codec) -> int:
    """Distinct new cases on the cases topic (linked reports excluded)."""
    records = await read_topic(topics.name(topics.CASES), until=lambda rs: False, timeout=3)
    return len({c["case_id"] for c in (codec.decode(r.value, "Case") for r in records) if not c["is_update"]})


async def weekly_table(codec: Codec, *, cases: int, k: int, timeout: float = 60.0) -> str:
    """Wait until the published figures cover `cases` cases; the busiest week's tables as text."""
    from services.stats.export import text

    def latest(rs: list[Any]) -> list[dict[str, Any]]:
        weeks: dict[str, dict[str, Any]] = {}
        for r in rs:
            record = codec.decode(r.value, "WeeklyStatistics")
            weeks[record["week"]] = record
        return list(weeks.values())

    def covered(rs: list[Any]) -> bool:
        totals = [
            next(t for t in w["tables"] if t["table_id"] == "cases_by_category_province")["total"] for w in latest(rs)
        ]
        return bool(totals) and (sum(t or 0 for t in totals) == cases or (cases < k and len(totals) > 0))

    records = latest(await read_topic(topics.name(topics.STATS), until=covered, timeout=timeout))
    if not records:
        return "no weekly statistics published (see the stats worker's log)"
    week = max(records, key=lambda r: r["reports_total"] or 0)
    parts = [text(week), text(week, "cases_by_age_band"), text(week, "cases_by_sex")]
    return "\n\n".join(parts) + (
        f"\n\nAs published: x = suppressed (every count from 1 to {k - 1}, and others so that none can be worked "
        f"out from the totals); a province with fewer than {week['min_province_total']} cases that week is "
        "withheld (docs/statistics.md). "
        "A handful of sample reports is therefore mostly suppressed: that is the rule working."
    )
