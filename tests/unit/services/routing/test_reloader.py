"""RuleReloader keeps the last good rules when a new file is invalid and swaps on a valid change."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from referral_bus.settings import REPO_ROOT
from services.routing.reloader import RuleReloader
from services.routing.rules import CaseView

CONFIG = REPO_ROOT / "config"


def _case() -> CaseView:
    return CaseView.from_case(
        {
            "case_id": "c1",
            "report": {
                "category": "HARASSMENT",
                "severity": "LOW",
                "consent": "GIVEN",
                "victim": {"is_minor": False, "age_band": "ADULT", "jurisdiction": "VN-HN"},
            },
        }
    )


def _reloader_on_copies(tmp_path: Path) -> tuple[Path, Path, RuleReloader]:
    """Copies of the shipped recipients and rules files in `tmp_path`, and a reloader watching them."""
    directory, rules = tmp_path / "recipients.yaml", tmp_path / "rules.yaml"
    shutil.copy(CONFIG / "recipients.yaml", directory)
    shutil.copy(CONFIG / "rules.yaml", rules)
    return directory, rules, RuleReloader(directory, rules)


def _touch_later(path: Path, text: str, step: int) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + step * 1_000_000_000))  # a distinct mtime, no sleeping


def test_invalid_file_keeps_last_good_rules_and_valid_change_swaps(tmp_path: Path) -> None:
    _, rules, reloader = _reloader_on_copies(tmp_path)
    good = reloader.current
    assert reloader.maybe_reload() is False  # nothing changed
    original = rules.read_text(encoding="utf-8")

    _touch_later(rules, original.replace("priority: P3\n      ack_sla: 24h", "priority: P3\n      ack_sla: soon"), 1)
    assert reloader.maybe_reload() is False
    assert reloader.current is good
    assert len(reloader.last_error) == 1 and "rule adult-consent-given: then.ack_sla" in reloader.last_error[0]
    assert good.decide(_case()).priority == "P3"

    _touch_later(rules, "rules: [\n", 2)  # not even YAML
    assert reloader.maybe_reload() is False
    assert reloader.current is good and "invalid YAML" in reloader.last_error[0]

    _touch_later(rules, original.replace("priority: P3\n      ack_sla: 24h", "priority: P2\n      ack_sla: 2h"), 3)
    assert reloader.maybe_reload() is True
    assert reloader.current is not good and reloader.current.version != good.version
    assert reloader.last_error == []
    decision = reloader.current.decide(_case())
    assert (decision.priority, decision.ack_sla_seconds) == ("P2", 7200)


def test_directory_change_is_reloaded_too(tmp_path: Path) -> None:
    directory, _, reloader = _reloader_on_copies(tmp_path)
    good = reloader.current
    text = directory.read_text(encoding="utf-8")
    _touch_later(directory, text.replace("kind: social_services", "kind: social_service", 1), 1)
    assert reloader.maybe_reload() is False and reloader.current is good
    assert "recipient vn-social-services-national: kind" in reloader.last_error[0]
