"""The local stack's inbox: sample units get the inbox channel, passwords verify, `make run` says how to sign in."""

from __future__ import annotations

from pathlib import Path

import yaml

from referral_bus.settings import config_file
from referral_devstack.demo import inbox_banner, with_inbox
from referral_domain.directory import load_directory
from services.inbox.passwords import verify_password


def test_the_demo_inbox(tmp_path: Path) -> None:
    directory = tmp_path / "recipients.yaml"
    directory.write_text(config_file("recipients.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    env: dict[str, str] = {}
    port, passwords = with_inbox(tmp_path, directory, env)
    loaded = load_directory(directory)
    assert loaded.recipients["vn-police-ha-noi"].channel.type == "inbox"
    assert set(loaded.inbox_users()) == set(passwords)
    for rid, password in passwords.items():
        stored = (tmp_path / "secrets" / f"inbox-password-{rid}").read_text(encoding="utf-8")
        assert password not in stored and verify_password(password, stored)
    assert env["NOTIFIER_INBOX_URL"] == f"http://127.0.0.1:{port}/inbox"
    assert env["INBOX_SECRETS_DIR"] == str(tmp_path / "secrets")
    banner = inbox_banner(port, passwords)
    assert f"http://127.0.0.1:{port}/inbox/" in banner
    assert f"sign in as vn-police-ha-noi with password {passwords['vn-police-ha-noi']}" in banner
    assert yaml.safe_load(directory.read_text(encoding="utf-8"))["version"] == 1
