"""Failed sign-ins per recipient id and per client address: too many within a window and sign-in is refused."""

from __future__ import annotations

from collections import deque

MAX_TRACKED = 10_000  # keys remembered at most; the oldest are forgotten first (bounded memory under attack)


class FailedSignins:
    """Sliding window of failures per key (`id:<recipient>`, `ip:<address>`); times are monotonic seconds."""

    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def blocked(self, keys: list[str], now: float) -> bool:
        """True when any key has used up its failures in the window."""
        return any(len(self._recent(k, now)) >= self.max_failures for k in keys)

    def failed(self, keys: list[str], now: float) -> None:
        """Count one failure against every key."""
        for key in keys:
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
        while len(self._failures) > MAX_TRACKED:
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, key: str) -> None:
        """A correct sign-in clears the recipient's count (never the address's)."""
        self._failures.pop(key, None)
