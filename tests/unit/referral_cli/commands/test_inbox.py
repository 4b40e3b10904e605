"""`referral-bus inbox hash-password`: a hash the inbox accepts, never the password itself, short ones refused."""

from __future__ import annotations

import io

import pytest

from referral_cli.main import main
from services.inbox.passwords import verify_password


def test_prints_a_hash_that_verifies(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["inbox", "hash-password", "--iterations", "1000"]) == 0
    out = capsys.readouterr().out.strip()
    assert "a long enough password" not in out
    assert verify_password("a long enough password", out)


def test_short_passwords_are_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["inbox", "hash-password"]) == 1
    assert "at least 12" in capsys.readouterr().err
