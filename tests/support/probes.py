"""Probe workers (tests/support/apps/*): their environment, and a stop that never leaves one running."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from referral_devstack.workers import spawn_on_free_port, worker_command


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


def spawn_probe(
    app_module: str, kafka: str, namespace: str, workdir: Path, log_path: Path, **extra: str
) -> tuple[subprocess.Popen[bytes], int]:
    """A probe worker (`app_module`) on a free web port, listening there (its port taken first: on another one)."""

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        env = probe_env(kafka, namespace, workdir, port, **extra)
        return [*worker_command(app_module, env=env), "--web-port", str(port)], env

    return spawn_on_free_port(command, log_path)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the worker's session, SIGKILL if it has not stopped within a minute."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
