"""The statistics dashboard in a real headless Chromium (Debian's package): the page renders every chart
from published figures only, with Vietnamese and English labels, and no external asset; a screenshot is
kept in docs/ (refreshed when REFRESH_SCREENSHOT=1)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from referral_bus.settings import REPO_ROOT
from services.stats.dashboard import render
from services.stats.dimensions import load_kinds
from services.stats.figures import collect
from services.stats.publish import Policy, weekly_statistics
from tests.support.settings import SuiteSettings
from tests.support.stats import CHROMIUM, MONDAY, aggregate, chromium, generate

SCREENSHOT = REPO_ROOT / "docs" / "statistics-dashboard.png"


def _records() -> list[dict[str, object]]:
    from datetime import timedelta

    thin = generate(40, weeks=1, seed=18, start=MONDAY - timedelta(days=7))  # a quiet week: much suppressed
    data = generate(1500, weeks=6, seed=19)
    data.cases[:0], data.decisions[:0], data.receipts[:0] = thin.cases, thin.decisions, thin.receipts
    kinds = load_kinds(REPO_ROOT / "config" / "stats.yaml", REPO_ROOT / "config" / "recipients.yaml")
    members = aggregate(data, kinds)
    return [weekly_statistics(f, Policy(), kinds, generated_at=0) for _, f in sorted(collect(members.items()).items())]


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium missing: `make test` installs it")
def test_dashboard_renders_in_headlesschromium(tmp_path: Path) -> None:
    records = _records()
    page = tmp_path / "statistics.html"
    page.write_text(render(records), encoding="utf-8")
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must not load anything external"

    dom = chromium("--dump-dom", page.as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    assert rendered.count("<svg") >= 5  # trend, provinces, age, sex, time to acknowledge
    assert "Theo tỉnh, thành phố" in rendered and "By provincial unit" in rendered
    assert "Hà Nội (VN-HN)" in rendered and "Nữ / Female" in rendered and "Dưới 13 / Under 13" in rendered
    assert "Thời gian xác nhận" in rendered and "Time to acknowledge" in rendered
    for record in records:
        assert record["week"] in rendered
    # a suppressed value is shown as such, never as a number
    assert "ẩn / suppressed" in rendered and 'class="sup"' in rendered

    shot = tmp_path / "dashboard.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(), cwd=tmp_path)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] == 2000 and pixels.shape[1] == 1280
    assert pixels.std() > 0.05, "the screenshot is blank"
    if SuiteSettings().refresh_screenshot or not SCREENSHOT.exists():
        shutil.copyfile(shot, SCREENSHOT)
