"""Settings mixins: a shared field is read under each service's own prefix, never another's."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.inbox.settings import InboxSettings
from services.intake.settings import IntakeSettings
from services.ledger.settings import LedgerSettings
from services.notifier.settings import NotifierSettings

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


def test_only_the_ledger_gathers_its_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger (off the delivery path) takes disclosures in batches; delivery workers fetch a record at a time."""
    ledger, intake = LedgerSettings(), IntakeSettings()
    assert (ledger.consumer_fetch_min_bytes, ledger.consumer_fetch_max_wait_ms) == (65_536, 200)
    assert (intake.consumer_fetch_min_bytes, intake.consumer_fetch_max_wait_ms) == (1, 1500)
    monkeypatch.setenv("LEDGER_CONSUMER_FETCH_MIN_BYTES", "1")
    assert LedgerSettings().consumer_fetch_min_bytes == 1  # a fetch per record, as the others
