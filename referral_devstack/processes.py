"""Background processes of the local stack (brokers, schema registry): pid files, start, wait, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, ClassVar


@dataclass(frozen=True)
class LocalServer:
    """A background server of the local stack: its port, and the state folder holding its pid file and log."""

    NAME: ClassVar[str]  # names the pid file and the log
    port: int
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        """Where the server's process id is kept."""
        return self.state_dir / f"{self.NAME}.pid"

    @property
    def log_file(self) -> Path:
        """The server's console log."""
        return self.state_dir / f"{self.NAME}.log"


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if that process is alive, else None."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def start_session(
    cmd: list[str], log: IO[bytes], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session (a signal to the group reaches its children), output to `log`."""
    return subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )


def stop_session(proc: subprocess.Popen[bytes], *, timeout: float, sig: int = signal.SIGTERM) -> None:
    """Signal a process started by `start_session` and its children; SIGKILL them when they outlast `timeout`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def spawn(cmd: list[str], log_file: Path, pid_file: Path, *, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session, output appended to `log_file`, its pid written to `pid_file`."""
    with log_file.open("ab") as log:
        proc = start_session(cmd, log, cwd=cwd)
    pid_file.write_text(str(proc.pid))
    return proc


def log_tail(log_file: Path, lines: int = 20) -> str:
    """The last lines of a log, for an error message that says why a process died."""
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def wait_until(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float) -> int | None:
    """Poll `ready` until it is true (None) or the process exits (its return code); TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc.returncode
        if ready():
            return None
        time.sleep(0.25)
    raise TimeoutError


def terminate(pid_file: Path, *, timeout: float) -> int | None:
    """SIGTERM the recorded process, SIGKILL it after `timeout`; returns its pid (None if none was running)."""
    pid = running_pid(pid_file)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid
