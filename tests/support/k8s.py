"""Building the kustomize overlays of deploy/k8s for tests (tools from `bash scripts/k8s/install-tools.sh`)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from referral_bus.settings import REPO_ROOT
from tests.support.settings import SuiteSettings

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
KUSTOMIZE = REPO_ROOT / ".local" / "bin" / "kustomize"
TOOLS_PY = REPO_ROOT / ".local" / "k8s-venv" / "bin" / "python"
OVERLAYS = sorted(p.name for p in (K8S_DIR / "overlays").iterdir() if (p / "kustomization.yaml").exists())


def require_tools() -> None:
    """Skip (fail under CI, where the Makefile installs them first) when kustomize or the tools' venv is missing."""
    missing = [str(p.relative_to(REPO_ROOT)) for p in (KUSTOMIZE, TOOLS_PY) if not p.exists()]
    if not missing:
        return
    message = f"k8s tools missing ({', '.join(missing)}): run `bash scripts/k8s/install-tools.sh`"
    if SuiteSettings().under_ci:
        pytest.fail(message)
    pytest.skip(message)


def build(overlay_dir: Path) -> list[dict[str, Any]]:
    """The objects of one overlay as `kustomize build` makes them."""
    require_tools()
    proc = subprocess.run(
        [str(KUSTOMIZE), "build", "--load-restrictor", "LoadRestrictionsNone", str(overlay_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]
