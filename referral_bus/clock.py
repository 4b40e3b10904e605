"""The wall clock, in the epoch milliseconds every record carries."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return int(time.time() * 1000)
