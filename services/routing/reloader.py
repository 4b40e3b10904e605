"""Keeps the last good rule set; reloads when the files change and refuses invalid ones."""

from __future__ import annotations

from pathlib import Path

from referral_bus import logging as rb_logging
from referral_bus.errors import RulesError
from services.routing.rules import RuleSet, load_rules

log = rb_logging.get_logger()


class RuleReloader:
    """Holds the current RuleSet; `maybe_reload` swaps it only for a set that loads whole."""

    def __init__(self, directory_path: Path, rules_path: Path, profiles_path: Path | None = None) -> None:
        # the profiles are part of the version (load_rules): a changed profile is a new rule set too
        self.paths = (
            (directory_path, rules_path) if profiles_path is None else (directory_path, rules_path, profiles_path)
        )
        self.current: RuleSet = load_rules(*self.paths)
        self._stamp = self._mtimes()
        self.last_error: list[str] = []

    def _mtimes(self) -> tuple[float, ...]:
        return tuple(p.stat().st_mtime_ns for p in self.paths)

    def maybe_reload(self) -> bool:
        """Reload when a file changed; True when a new rule set is in force."""
        try:
            stamp = self._mtimes()
        except OSError as exc:
            log.error("rules files unreadable; keeping the last good rules", error=exc.strerror)
            return False
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            new = load_rules(*self.paths)
        except RulesError as exc:
            self.last_error = exc.problems
            log.error(
                "new rules rejected; keeping the last good rules",
                version=self.current.version,
                problems=len(exc.problems),
                first_problem=exc.problems[0],
            )
            return False
        self.last_error = []
        log.info("rules reloaded", old_version=self.current.version, new_version=new.version)
        self.current = new
        return True
