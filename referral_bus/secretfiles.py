"""Secrets from mounted files or environment variables (never from the rules files), shared by the services."""

from __future__ import annotations

import time
from pathlib import Path

from referral_bus.settings import SecretVariables

REREAD_SECONDS = 10.0  # a rotated mounted Secret is in use within this long; no file read per delivery


class Secrets:
    """Looks a secret up as `<dir>/<name>` (a mounted Secret) or `REFERRAL_BUS_SECRET_<NAME>`."""

    def __init__(self, directory: Path | None, *, reread_seconds: float = REREAD_SECONDS) -> None:
        self.directory = directory
        self.reread_seconds = reread_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}

    def get(self, name: str) -> str | None:
        """The secret's value, or None when it is not configured (re-read at most every `reread_seconds`)."""
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is not None and now - cached[0] < self.reread_seconds:
            return cached[1]
        value = self._read(name)
        self._cache[name] = (now, value)
        return value

    def _read(self, name: str) -> str | None:
        if self.directory is not None:
            path = self.directory / name
            if path.is_file():
                return path.read_text(encoding="utf-8").strip()
        return SecretVariables.get(name)
