"""Quiet in an outage: client-library warnings and errors rate-limited and summarised; outage and recovery once.

During a broker outage aiokafka logs "Unable to update metadata" and "Unable connect to node" many
thousand times a minute. `QuietFilter` (a logging.Filter on the handler of `logging.stdlib_config`)
lets the first line of each kind through, counts the repeats, and every `interval` seconds writes one
summary line per kind with the count. A connection error starts an outage (one line: "broker
unreachable"); `interval` seconds without one ends it (one line: "broker reachable again", with how long
it lasted and how many lines were held back). Only WARNING and above from the client libraries (aiokafka,
faust, mode) are limited; our own structlog lines are not touched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from referral_bus import logging as rb_logging

LIMITED_LOGGERS = ("aiokafka", "kafka", "faust", "mode")
# aiokafka's message templates (record.msg, before formatting) that mean "the broker cannot be reached".
CONNECTION_ERRORS = (
    "Unable to update metadata",
    "Unable connect to",
    "Unable to request metadata",
    "Failed fetch messages",
    "Got error produce response",
    "Unable to find coordinator",
)
DEFAULT_INTERVAL_S = 30.0

Key = tuple[str, str]  # (logger name, message template)


@dataclass(frozen=True)
class Summary:
    """How often one kind of line was held back during the last interval."""

    logger: str
    template: str
    count: int
    seconds: float


@dataclass
class _Window:
    opened: float
    held: int = 0


@dataclass
class RepeatLimiter:
    """Per kind of line: the first passes, repeats within `interval` are counted and summarised (pure)."""

    interval: float = DEFAULT_INTERVAL_S
    _windows: dict[Key, _Window] = field(default_factory=dict)

    def admit(self, key: Key, now: float) -> bool:
        """True when this line should be written; False when it is a counted repeat."""
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now)
            return True
        window.held += 1
        return False

    def due(self, now: float) -> list[Summary]:
        """Summaries of the windows that ended by `now` (one per kind that held lines back).

        A window that held lines back opens the next one at once, so a long outage gives one line per
        interval per kind; a quiet window closes, and the next line of that kind is written again.
        """
        out = []
        for key, window in list(self._windows.items()):
            if now - window.opened < self.interval:
                continue
            if window.held:
                out.append(Summary(key[0], key[1], window.held, round(now - window.opened, 1)))
                self._windows[key] = _Window(now)
            else:
                del self._windows[key]
        return out

    def flush(self, now: float) -> list[Summary]:
        """Summaries of every open window that held lines back, now; all windows close."""
        out = [Summary(k[0], k[1], w.held, round(now - w.opened, 1)) for k, w in self._windows.items() if w.held]
        self._windows.clear()
        return out


@dataclass
class OutageTracker:
    """An outage starts with the first connection error and ends after `quiet` seconds without one (pure)."""

    quiet: float = DEFAULT_INTERVAL_S
    started: float | None = None
    last_error: float = 0.0
    errors: int = 0

    def error(self, now: float) -> bool:
        """Record one connection error; True when it starts an outage."""
        self.last_error = now
        self.errors += 1
        if self.started is None:
            self.started = now
            return True
        return False

    def recovered(self, now: float) -> tuple[float, int] | None:
        """(outage seconds, connection errors seen) when the outage just ended at `now`, else None."""
        if self.started is None or now - self.last_error < self.quiet:
            return None
        lasted, errors = self.last_error - self.started, self.errors
        self.started, self.errors = None, 0
        return lasted, errors


class QuietFilter(logging.Filter):
    """The logging.Filter: rate-limits client-library lines and reports outage and recovery once each."""

    def __init__(self, interval: float = DEFAULT_INTERVAL_S, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.limiter = RepeatLimiter(interval)
        self.outage = OutageTracker(interval)
        self._clock = clock
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat held back; True otherwise (every line below WARNING, and our own loggers)."""
        if record.levelno < logging.WARNING or not record.name.startswith(LIMITED_LOGGERS):
            return True
        template = str(record.msg)
        now = self._clock()
        with self._lock:
            starts = any(template.startswith(t) for t in CONNECTION_ERRORS) and self.outage.error(now)
            admitted = self.limiter.admit((record.name, template), now)
        if starts:
            _log().warning(
                "broker unreachable: Kafka client errors from now on are summarised",
                summary_interval_s=self.interval,
            )
        self._ensure_ticker()
        return admitted

    def tick(self, now: float | None = None) -> None:
        """Write the summaries that are due, and the recovery line when the outage has ended."""
        now = self._clock() if now is None else now
        with self._lock:
            summaries = self.limiter.due(now)
            ended = self.outage.recovered(now)
            if ended is not None:
                summaries += self.limiter.flush(now)
        log = _log()
        for s in summaries:
            log.warning(
                "repeated client log lines held back",
                source_logger=s.logger,
                message=s.template,
                count=s.count,
                interval_s=s.seconds,
            )
        if ended is not None:
            log.warning(
                "broker reachable again",
                outage_s=round(ended[0], 1),
                connection_errors=ended[1],
            )

    def _ensure_ticker(self) -> None:
        if self._ticker is not None:
            return
        with self._lock:
            if self._ticker is not None:
                return
            self._ticker = threading.Thread(target=self._run, name="log-quiet-ticker", daemon=True)
            self._ticker.start()

    def _run(self) -> None:
        period = max(0.2, min(1.0, self.interval / 5))
        while not self._stop.wait(period):
            try:
                self.tick()
            except Exception:  # noqa: BLE001,S112 - the ticker must never die; the next tick tries again
                continue

    def close(self) -> None:
        """Stop the ticker thread (tests)."""
        self._stop.set()


def _log() -> Any:
    return rb_logging.get_logger(service=rb_logging.service_name(), source="referral_bus.lograte")


_filters: dict[float, QuietFilter] = {}


def quiet_filter(interval: float = DEFAULT_INTERVAL_S) -> QuietFilter:
    """The process's filter for `interval` (logging.config's `()` factory; one per process and interval)."""
    existing = _filters.get(interval)
    if existing is None:
        existing = _filters[interval] = QuietFilter(interval)
    return existing
