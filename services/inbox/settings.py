"""The inbox worker's settings: `INBOX_*` variables (and the shared mixins of referral_bus/settings.py)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from referral_bus.settings import DirectoryFile, MountedSecrets, ServiceSettings


class InboxSettings(ServiceSettings, DirectoryFile, MountedSecrets):
    """`INBOX_*` variables: the inbox web page for recipients without a system of their own (docs/inbox.md).

    Mounted secrets: `inbox-password-<recipient>` (a hash: `referral-bus inbox hash-password`),
    `inbox-session-key` (signs session cookies and CSRF tokens), `inbox-link-key` (e-mail links).
    """

    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    web_port: int = 6070
    # at most 7 days: a signed-out session is remembered that long (changelog referral-bus-inbox-signouts-changelog)
    session_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    # Failed sign-ins allowed per recipient id and per client address within the window, then refused (429).
    signin_max_failures: int = Field(default=5, ge=1)
    signin_window_seconds: float = Field(default=900.0, gt=0)
    # Development only: session cookies without `Secure`, so they work over plain http://127.0.0.1.
    dev_insecure_cookies: bool = False
    max_form_bytes: int = Field(default=8192, ge=512)
