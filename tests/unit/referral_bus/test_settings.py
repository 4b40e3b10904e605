"""Settings mixins: a shared field is read under each service's own prefix, never another's; names kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from services.inbox.settings import InboxSettings
from services.intake.settings import IntakeSettings
from services.ledger.settings import LedgerSettings
from services.notifier.settings import NotifierSettings
from services.routing.settings import RoutingSettings
from services.stats.settings import StatsSettings

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


def test_the_workers_after_the_delivery_linger_longer_than_those_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Intake and routing produce on the delivery path (20 ms); the notifier and the ledger produce after it."""
    for name in ("INTAKE", "ROUTING", "NOTIFIER", "LEDGER", "STATS"):
        monkeypatch.delenv(f"{name}_PRODUCER_LINGER_MS", raising=False)
    assert IntakeSettings().producer_linger_ms == RoutingSettings().producer_linger_ms == 20
    assert StatsSettings().producer_linger_ms == 5  # off the delivery path, its records few
    assert NotifierSettings().producer_linger_ms == LedgerSettings().producer_linger_ms == 50
    monkeypatch.setenv("NOTIFIER_PRODUCER_LINGER_MS", "5")
    assert NotifierSettings().producer_linger_ms == 5


SERVICES: dict[str, type[BaseSettings]] = {
    "INTAKE_": IntakeSettings,
    "ROUTING_": RoutingSettings,
    "NOTIFIER_": NotifierSettings,
    "STATS_": StatsSettings,
    "INBOX_": InboxSettings,
    "LEDGER_": LedgerSettings,
}


def _another_valid(field: FieldInfo) -> int | float:
    """A value of a numeric setting within its bounds and other than its default."""
    default, bounds = field.default, {type(m).__name__: m for m in field.metadata}
    step = 1 if field.annotation in (int, int | None) else 0.5
    low = getattr(bounds.get("Ge"), "ge", None)
    if low is None and "Gt" in bounds:
        low = bounds["Gt"].gt + step
    high = getattr(bounds.get("Le"), "le", None)
    value = low if low is not None and low != default else default + step
    chosen: int | float = value if high is None or value <= high else default - step
    return chosen


@pytest.mark.parametrize("prefix", sorted(SERVICES))
def test_every_numeric_setting_of_a_service_is_read_under_its_prefix_only(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every field, the groups' of a settings class included (NotifierSettings), keeps its `<PREFIX><NAME>` variable."""
    cls = SERVICES[prefix]
    numeric = {
        name: field
        for name, field in cls.model_fields.items()
        if isinstance(field.default, int | float) and not isinstance(field.default, bool)
    }
    assert numeric, prefix
    expected = {}
    for name, field in numeric.items():
        expected[name] = _another_valid(field)
        monkeypatch.setenv(prefix + name.upper(), str(expected[name]))
        monkeypatch.setenv(name.upper(), "not a number")  # without the prefix: nobody's
    read = cls()
    assert {name: getattr(read, name) for name in numeric} == expected
    assert expected != {name: field.default for name, field in numeric.items()}
