"""The py-spy command of the bench's profiles (bench/profiles.py): what it samples."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import profiles
from bench.profiles import start_profile


def test_samples_only_the_gil_holder_without_pausing() -> None:
    """Threads waiting for a core after a socket write or an epoll return are not counted as CPU (sock.md)."""
    cmd = profiles.record_command("py-spy", 42, Path("/tmp/x.txt"), 50, 12.7)
    assert cmd[:4] == ["py-spy", "record", "-p", "42"]
    assert "--gil" in cmd and "--nonblocking" in cmd and "--idle" not in cmd
    assert cmd[cmd.index("-d") + 1] == "12" and cmd[cmd.index("-r") + 1] == "50"
    assert cmd[-4:] == ["-f", "raw", "-o", "/tmp/x.txt"]
    assert "-d" not in profiles.record_command("py-spy", 42, Path("/tmp/x.txt"), 100)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The command lines `subprocess.Popen` was given (nothing is started)."""
    calls: list[list[str]] = []

    def popen(cmd: list[str], **_: Any) -> Any:
        calls.append(cmd)
        return None

    monkeypatch.setattr(profiles, "available", lambda: "/bin/py-spy")
    monkeypatch.setattr(subprocess, "Popen", popen)
    return calls


def test_the_bench_and_the_drains_use_that_command(started: list[list[str]], tmp_path: Path) -> None:
    """`bench.run`'s profiles and the drains' `--profile` sample the same way."""
    profiles.start({"intake": 7}, tmp_path, 12.0)
    start_profile(8, tmp_path / "drain.txt")
    assert started == [
        profiles.record_command("/bin/py-spy", 7, tmp_path / "intake.txt", 50, 12.0),
        profiles.record_command("/bin/py-spy", 8, tmp_path / "drain.txt", 100),
    ]
