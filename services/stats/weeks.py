"""ISO weeks in Viet Nam's time zone (Asia/Ho_Chi_Minh), the unit every figure is counted in."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from referral_bus.errors import ReferralBusError

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def week_of(epoch_ms: int) -> str:
    """The ISO week (`2026-W48`) of an instant, in Asia/Ho_Chi_Minh time."""
    year, week, _ = datetime.fromtimestamp(epoch_ms / 1000, ZONE).isocalendar()
    return f"{year}-W{week:02d}"


def monday(week: str) -> date:
    """The Monday that starts an ISO week; a malformed week is a ReferralBusError naming the form."""
    m = _WEEK.match(week)
    if not m:
        raise ReferralBusError(f"week {week!r} is not of the form YYYY-Www (e.g. 2026-W48)")
    try:
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ReferralBusError(f"week {week!r} does not exist in the ISO calendar") from None


def weeks_between(first: str, last: str) -> list[str]:
    """Every ISO week from `first` to `last`, inclusive, in order."""
    start, end = monday(first), monday(last)
    if end < start:
        raise ReferralBusError(f"--to {last} is before --from {first}")
    out = []
    day = start
    while day <= end:
        year, week, _ = day.isocalendar()
        out.append(f"{year}-W{week:02d}")
        day += timedelta(days=7)
    return out


def week_end_ms(week: str) -> int:
    """The instant a week ends (next Monday 00:00 in Asia/Ho_Chi_Minh), epoch milliseconds."""
    start = datetime.combine(monday(week), datetime.min.time(), ZONE)
    return int((start + timedelta(days=7)).timestamp() * 1000)


def closed(week: str, now_ms: int, after_hours: float) -> bool:
    """True once a week ended at least `after_hours` ago: only then are its figures published."""
    return now_ms >= week_end_ms(week) + after_hours * 3_600_000
