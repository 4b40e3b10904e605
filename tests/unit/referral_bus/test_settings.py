"""Settings mixins: a shared field is read under each service's own prefix, never another's."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus.settings import InboxSettings, IntakeSettings, LedgerSettings, NotifierSettings

WITH_SECRETS = {"NOTIFIER": NotifierSettings, "INBOX": InboxSettings, "LEDGER": LedgerSettings}


@pytest.mark.parametrize("prefix", sorted(WITH_SECRETS))
def test_each_service_reads_only_its_own_secrets_dir(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for other in WITH_SECRETS:
        monkeypatch.delenv(f"{other}_SECRETS_DIR", raising=False)
    monkeypatch.setenv(f"{prefix}_SECRETS_DIR", f"/run/secrets/{prefix.lower()}")
    monkeypatch.setenv("SECRETS_DIR", "/nowhere")  # no prefix: nobody's
    for other, cls in WITH_SECRETS.items():
        expected = Path(f"/run/secrets/{prefix.lower()}") if other == prefix else None
        assert cls().secrets_dir == expected, other


def test_a_service_without_secrets_has_no_such_setting() -> None:
    assert "secrets_dir" not in IntakeSettings.model_fields
