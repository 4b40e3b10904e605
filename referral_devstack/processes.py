"""Background processes of the local stack (brokers, schema registry): pid files, start, wait, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, ClassVar

from referral_devstack.settings import DevstackSettings


class LocalServer:
    """A background server of the local stack: its port, and the state folder holding its pid file and log.

    Unless given, both come from REFERRAL_BUS_<NAME>_PORT and REFERRAL_BUS_<NAME>_DIR (DevstackSettings).
    """

    NAME: ClassVar[str]  # names the settings, the pid file and the log

    def __init__(self, port: int | None = None, state_dir: Path | None = None) -> None:
        settings = DevstackSettings()
        self.port: int = port if port is not None else getattr(settings, f"{self.NAME}_port")
        self.state_dir: Path = state_dir if state_dir is not None else getattr(settings, f"{self.NAME}_dir")

    @property
    def pid_file(self) -> Path:
        """Where the server's process id is kept."""
        return self.state_dir / f"{self.NAME}.pid"

    @property
    def log_file(self) -> Path:
        """The server's console log."""
        return self.state_dir / f"{self.NAME}.log"

    @property
    def pid(self) -> int | None:
        """The recorded process id while that process is alive."""
        return running_pid(self.pid_file)

    def launch(
        self,
        cmd: list[str],
        ready: Callable[[], bool],
        *,
        timeout: float,
        error: type[Exception],
        what: str,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `cmd` (log and pid file in the state folder); return once `ready()`, else `error` says why.

        `what` names the server in the message ("the broker on 127.0.0.1:9092").
        """
        proc = spawn(cmd, self.log_file, self.pid_file, cwd=cwd)
        try:
            code = wait_until(proc, ready, timeout)
        except TimeoutError:
            raise error(f"{what} did not answer within {timeout:.0f}s; see {self.log_file}") from None
        if code is not None:
            raise error(f"{what} exited with code {code}; last log lines:\n{log_tail(self.log_file)}")
        return proc


def untraced_environment() -> dict[str, str]:
    """The environment without OTEL_*: for a child process that must not export traces by accident."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


def run_setup_script(script: Path, error: type[Exception]) -> None:
    """Run a `scripts/setup/` step (idempotent, cached); `error` with its stderr when it fails."""
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise error(result.stderr.strip() or f"{script} failed with exit code {result.returncode}")


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if that process is alive, else None."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    return None if exited(pid) else pid


def exited(pid: int) -> bool:
    """True once `pid` has exited: gone, or a zombie that its parent (maybe this process) has not reaped yet."""
    try:
        os.kill(pid, 0)
    except OSError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False  # no /proc here: alive as far as we can tell
    return state == "Z"


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
        if exited(pid):  # a zombie counts: the broker a command started stays its unreaped child
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid
