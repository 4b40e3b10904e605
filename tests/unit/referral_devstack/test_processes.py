"""Stopping a local server: a process that left on SIGTERM counts as stopped even before its parent reaps it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from referral_devstack import processes

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def zombie(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A child of this process that has exited and is not reaped yet (as the broker `make test` started)."""
    proc = processes.spawn(SLEEPER, tmp_path / "x.log", tmp_path / "x.pid")
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child did not exit on SIGTERM"
        time.sleep(0.05)
    return proc


def test_an_unreaped_child_has_exited_and_is_not_running(tmp_path: Path) -> None:
    proc = zombie(tmp_path)
    assert processes.exited(proc.pid)
    assert processes.running_pid(tmp_path / "x.pid") is None
    assert proc.wait() == -signal.SIGTERM


def test_a_running_process_has_not_exited(tmp_path: Path) -> None:
    proc = processes.spawn(SLEEPER, tmp_path / "x.log", tmp_path / "x.pid")
    try:
        assert not processes.exited(proc.pid)
        assert processes.running_pid(tmp_path / "x.pid") == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert processes.exited(proc.pid)


@pytest.mark.timeout(120)  # before the fix, terminate waited its whole timeout for a child that had already left
def test_terminate_returns_once_its_own_child_left_on_sigterm(tmp_path: Path) -> None:
    proc = processes.spawn(SLEEPER, tmp_path / "x.log", tmp_path / "x.pid")
    assert processes.terminate(tmp_path / "x.pid", timeout=3600) == proc.pid
    assert proc.wait() == -signal.SIGTERM  # it left on SIGTERM: no SIGKILL was needed
    assert not (tmp_path / "x.pid").exists()
