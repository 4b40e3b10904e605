"""A test run leaves the tree clean: browser tests save screenshots to a temporary folder, and only the
shared helper (tests/support/screenshots.py, behind --refresh-docs-images) may name docs/images/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from referral_bus.settings import REPO_ROOT
from tests.support.screenshots import DOCS_IMAGES, refresh_asked, screenshot_dir

DOCS_IMAGES_IN_CODE = re.compile(r"""["']docs["']\s*/\s*["']images|docs/images/[\w-]+\.png""")


def test_screenshots_go_to_docs_images_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFRESH_SCREENSHOT", raising=False)
    assert screenshot_dir(refresh_asked(False), tmp_path) == tmp_path
    assert screenshot_dir(refresh_asked(True), tmp_path) == DOCS_IMAGES
    monkeypatch.setenv("REFRESH_SCREENSHOT", "1")
    assert screenshot_dir(refresh_asked(False), tmp_path) == DOCS_IMAGES


def test_no_test_writes_docs_images_but_through_the_helper() -> None:
    helper = REPO_ROOT / "tests" / "support" / "screenshots.py"
    offenders = [
        str(p.relative_to(REPO_ROOT))
        for p in sorted((REPO_ROOT / "tests").rglob("*.py"))
        if p not in (helper, Path(__file__)) and DOCS_IMAGES_IN_CODE.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
