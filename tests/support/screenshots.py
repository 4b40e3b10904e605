"""Where browser tests save screenshots: a temporary folder, or docs/images/ only when asked to refresh them."""

from __future__ import annotations

from pathlib import Path

from referral_bus.settings import REPO_ROOT
from tests.support.settings import SuiteSettings

DOCS_IMAGES = REPO_ROOT / "docs" / "images"
OPTION = "--refresh-docs-images"  # `pytest tests/e2e/test_inbox_browser.py --refresh-docs-images`


def refresh_asked(option: bool) -> bool:
    """The pytest option, or REFRESH_SCREENSHOT=1 as for the statistics dashboard's screenshot."""
    return option or SuiteSettings().refresh_screenshot


def screenshot_dir(refresh: bool, scratch: Path) -> Path:
    """docs/images/ when `refresh` (the pytest option), else `scratch`: a test run leaves the tree clean."""
    return DOCS_IMAGES if refresh else scratch
