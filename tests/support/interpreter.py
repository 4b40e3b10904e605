"""A fresh Python interpreter for set-ups that are process-global (logging, tracing, metrics)."""

from __future__ import annotations

import subprocess
import sys

from referral_bus.settings import REPO_ROOT
from referral_devstack.processes import untraced_environment


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with only `env` as OTEL_* variables; it must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**untraced_environment(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done
