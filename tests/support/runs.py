"""Run `make run`'s program (python -m referral_devstack.demo) as a user would and watch every process it
starts; run a command under `make test`'s wrapper (python -m referral_devstack.lifecycle)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from referral_bus.settings import REPO_ROOT
from referral_devstack.jaeger import free_ports


def private_jaeger() -> tuple[dict[str, str], int]:
    """Settings that make `make run` start its Jaeger on free ports (never a shared one); and its query port."""
    otlp, otlp_grpc, query = free_ports(3)
    env = {
        "REFERRAL_BUS_JAEGER_OTLP_PORT": str(otlp),
        "REFERRAL_BUS_JAEGER_OTLP_GRPC_PORT": str(otlp_grpc),
        "REFERRAL_BUS_JAEGER_QUERY_PORT": str(query),
    }
    return env, query


def wrapped(inner: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m referral_devstack.lifecycle -- python -c INNER`, as `make test` runs pytest."""
    return subprocess.run(
        [sys.executable, "-m", "referral_devstack.lifecycle", "--", sys.executable, "-c", inner],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def children_of(root: int) -> set[int]:
    """Every live descendant of `root` (from /proc), whatever session it moved to."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class DemoRun:
    """The demo in a subprocess, its output collected, its descendants recorded while it runs."""

    env: dict[str, str]
    tty: bool
    proc: subprocess.Popen[bytes] | None = None
    output: bytearray = field(default_factory=bytearray)
    seen: set[int] = field(default_factory=set)
    _master: int | None = None

    def start(self) -> None:
        """Start it with a pseudo-terminal on stdin/stdout (tty) or with no terminal at all."""
        env = {**os.environ, **self.env}
        if self.tty:
            master, slave = os.openpty()
            self._master = master
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "referral_devstack.demo"], cwd=REPO_ROOT, env=env,
                stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
            )  # fmt: skip
            os.close(slave)
            threading.Thread(target=self._read_pty, daemon=True).start()
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "referral_devstack.demo"], cwd=REPO_ROOT, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            threading.Thread(target=self._read_pipe, daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _read_pty(self) -> None:
        assert self._master is not None
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.output.extend(chunk)

    def _read_pipe(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.extend(line)

    def _watch(self) -> None:
        assert self.proc is not None
        while self.proc.poll() is None:
            self.seen |= children_of(self.proc.pid)
            time.sleep(0.3)

    @property
    def text(self) -> str:
        """Everything it printed so far."""
        return self.output.decode(errors="replace")

    def wait_for_text(self, needle: str, timeout: float) -> bool:
        """Poll its output until `needle` appears, it exits, or the deadline passes."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text:
                return True
            if self.proc.poll() is not None:
                return needle in self.text
            time.sleep(0.3)
        return needle in self.text

    def signal(self, sig: int) -> None:
        """Send a signal to the demo process (as Ctrl-C or a supervisor's SIGTERM would)."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Its exit code (killed with its whole group if it does not leave in time)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """Last resort for a failed test: kill it and everything it started."""
        for pid in [*(self.seen if self.proc is None else self.seen | children_of(self.proc.pid))]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def leftovers(self, timeout: float = 30.0) -> set[int]:
        """Processes it started that are still alive (polled until none or the deadline)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = {pid for pid in self.seen if alive(pid)}
            if not left:
                return set()
            time.sleep(0.3)
        return {pid for pid in self.seen if alive(pid)}
