"""Per-recipient secrets of the notifier: the shared reader (referral_bus/secretfiles.py) and webhook keys."""

from __future__ import annotations

from referral_bus.secretfiles import REREAD_SECONDS
from referral_bus.secretfiles import Secrets as _Secrets

__all__ = ["REREAD_SECONDS", "Secrets"]


class Secrets(_Secrets):
    """Looks a secret up as `<dir>/<name>` (a mounted Secret) or `REFERRAL_BUS_SECRET_<NAME>`."""

    def webhook(self, recipient_id: str) -> str | None:
        """HMAC key of one webhook recipient."""
        return self.get(f"webhook-{recipient_id}")
