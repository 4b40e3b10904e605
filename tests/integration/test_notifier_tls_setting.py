"""The notifier refuses to start with TLS certificate verification off, unless the development setting says so
(then it says so loudly)."""

from __future__ import annotations

import os
import subprocess
import sys

from referral_bus.settings import REPO_ROOT


def _notifier_start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "REFERRAL_BUS_DEV_INSECURE_TRANSPORT"}
    return subprocess.run(
        [sys.executable, "-c", "import services.notifier.app"],
        cwd=REPO_ROOT,
        env={**clean, "NOTIFIER_TLS_VERIFY": "false", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_certificate_verification_off_only_with_the_development_setting() -> None:
    refused = _notifier_start({})
    assert refused.returncode == 78, refused.stderr[-2000:]
    assert "NOTIFIER_TLS_VERIFY=false is allowed only with" in refused.stderr
    allowed = _notifier_start({"REFERRAL_BUS_DEV_INSECURE_TRANSPORT": "true"})
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert "DEVELOPMENT SETTING REFERRAL_BUS_DEV_INSECURE_TRANSPORT IS ON" in allowed.stdout + allowed.stderr
