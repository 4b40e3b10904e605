"""Secrets: mounted files first, then REFERRAL_BUS_SECRET_* variables; a rotated file is picked up."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifier.secrets import Secrets


def test_mounted_file_wins_over_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "webhook-a").write_text("from-file\n", encoding="utf-8")
    monkeypatch.setenv("REFERRAL_BUS_SECRET_WEBHOOK_A", "from-env")
    monkeypatch.setenv("REFERRAL_BUS_SECRET_WEBHOOK_B", "from-env")
    secrets = Secrets(tmp_path)
    assert secrets.webhook("a") == "from-file"
    assert secrets.webhook("b") == "from-env"
    assert secrets.webhook("c") is None


def test_a_rotated_secret_is_used_once_the_reread_interval_has_passed(tmp_path: Path) -> None:
    path = tmp_path / "webhook-a"
    path.write_text("old", encoding="utf-8")
    cached = Secrets(tmp_path, reread_seconds=3600)
    fresh = Secrets(tmp_path, reread_seconds=0)
    assert cached.webhook("a") == "old" and fresh.webhook("a") == "old"
    path.write_text("new", encoding="utf-8")
    assert cached.webhook("a") == "old"  # within the interval: no file read per delivery
    assert fresh.webhook("a") == "new"
