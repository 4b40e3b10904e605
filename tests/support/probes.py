"""Probe workers (tests/support/apps/*): their environment, and a stop that never leaves one running."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def probe_env(kafka: str, namespace: str, workdir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a probe worker on the test's broker, namespace, data folder and web port."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "REFERRAL_BUS_NAMESPACE": namespace,
        "WEB_PORT": str(port),
        "DATA_DIR": str(workdir),
        **extra,
    }


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the worker's session, SIGKILL if it has not stopped within a minute."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
