"""A fresh Python interpreter for set-ups that are process-global (logging, tracing, metrics)."""

from __future__ import annotations

import os
import subprocess
import sys

from referral_bus.settings import REPO_ROOT


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with only `env` as OTEL_* variables; it must exit 0."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done
