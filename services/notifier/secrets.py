"""Per-recipient secrets from mounted files or environment variables, never from the rules files."""

from __future__ import annotations

import os
from pathlib import Path


class Secrets:
    """Looks a secret up as `<dir>/<name>` (a mounted Secret) or `REFERRAL_BUS_SECRET_<NAME>`."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def get(self, name: str) -> str | None:
        """The secret's value, or None when it is not configured."""
        if self.directory is not None:
            path = self.directory / name
            if path.is_file():
                return path.read_text(encoding="utf-8").strip()
        env = "REFERRAL_BUS_SECRET_" + name.upper().replace("-", "_")
        return os.environ.get(env)

    def webhook(self, recipient_id: str) -> str | None:
        """HMAC key of one webhook recipient."""
        return self.get(f"webhook-{recipient_id}")
