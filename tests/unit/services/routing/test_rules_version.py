"""The rules version covers the data profiles: changing what a recipient may see changes the version."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from referral_bus.settings import REPO_ROOT
from services.routing.reloader import RuleReloader
from services.routing.rules import load_rules

CONFIG = REPO_ROOT / "config"


def copies(tmp_path: Path) -> tuple[Path, Path, Path]:
    out = []
    for name in ("recipients.yaml", "rules.yaml", "profiles.yaml"):
        shutil.copy(CONFIG / name, tmp_path / name)
        out.append(tmp_path / name)
    return out[0], out[1], out[2]


def test_a_changed_profile_is_a_new_rules_version(tmp_path: Path) -> None:
    directory, rules, profiles = copies(tmp_path)
    before = load_rules(directory, rules, profiles).version
    assert load_rules(directory, rules, profiles).version == before  # deterministic
    profiles.write_text(profiles.read_text().replace("      - report.platform\n", "", 1), encoding="utf-8")
    assert load_rules(directory, rules, profiles).version != before


def test_the_default_profiles_file_is_part_of_the_version() -> None:
    with_default = load_rules(CONFIG / "recipients.yaml", CONFIG / "rules.yaml").version
    explicit = load_rules(CONFIG / "recipients.yaml", CONFIG / "rules.yaml", CONFIG / "profiles.yaml").version
    assert with_default == explicit


def test_the_reloader_takes_a_changed_profile(tmp_path: Path) -> None:
    directory, rules, profiles = copies(tmp_path)
    reloader = RuleReloader(directory, rules, profiles)
    before = reloader.current.version
    profiles.write_text(profiles.read_text() + "\n# a reviewed change\n", encoding="utf-8")
    stat = profiles.stat()
    os.utime(profiles, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert reloader.maybe_reload()
    assert reloader.current.version != before
