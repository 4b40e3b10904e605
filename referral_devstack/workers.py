"""The three services as separate `faust worker` processes, each stack in its own topic namespace.

Used by `make run`, end-to-end tests, benchmarks and fault drills; real parts only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from referral_bus import event_loop
from referral_bus.settings import REPO_ROOT
from referral_devstack.processes import start_session, stop_session
from referral_devstack.settings import DevstackSettings

SERVICES = ("intake", "routing", "notifier")

DEV_TRANSPORT = "REFERRAL_BUS_DEV_INSECURE_TRANSPORT"  # docs/safeguards.md
PORT_TAKEN = b"address already in use"  # a log line (any case) of a process whose port was taken before it bound
PORT_RETRIES = 5  # fresh ports tried per worker start before giving up
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def worker_command(app_module: str, *, level: str = "info", env: Mapping[str, str] | None = None) -> list[str]:
    """The command line of one Faust worker (what the container and the Deployments run, with our Python).

    On the loop EVENT_LOOP names in `env` (its environment; else in ours): Faust's `--loop`, its consumer thread's too.
    """
    loop = event_loop.chosen(event_loop.settings_in(env))
    return [sys.executable, "-m", "faust", *event_loop.faust_option(loop), "-A", app_module, "worker", "-l", level]


def spawn_in_tree(cmd: list[str], env: Mapping[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start a process from the source tree in its own session, output to `log`."""
    return start_session(cmd, log, env=env, cwd=REPO_ROOT)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hold_free_port() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1, held until an in-process server listens on it (`SockSite`).

    Unlike `free_port`, no other bind or outgoing connection can take the port meanwhile.
    """
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


def listening_ports(pid: int) -> set[int] | None:
    """The TCP ports process `pid` listens on (empty once it is gone; None: this system has no /proc to say)."""
    tables = [Path("/proc/self/net") / t for t in ("tcp", "tcp6")]  # the tables of our network namespace
    if not tables[0].exists():
        return None
    try:
        inodes = {
            link[len("socket:[") : -1]
            for fd in Path(f"/proc/{pid}/fd").iterdir()
            if (link := os.readlink(fd)).startswith("socket:[")
        }
    except OSError:  # exited (or exiting) meanwhile
        return set()
    rows = [line.split() for t in tables if t.exists() for line in t.read_text(encoding="ascii").splitlines()[1:]]
    return {int(r[1].rsplit(":", 1)[1], 16) for r in rows if r[3] == LISTEN and r[9] in inodes}


def port_taken_since(log_path: Path, offset: int) -> bool:
    """Whether a process's log, from `offset` on (its latest start), says its port was taken before it bound."""
    if not log_path.exists():
        return False
    with log_path.open("rb") as f:
        f.seek(offset)
        return PORT_TAKEN in f.read().lower()


def spawn_on_free_port(
    command: Callable[[int], tuple[list[str], Mapping[str, str]]], log_path: Path, *, timeout: float = 120.0
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a process serving HTTP on a free port; return it and the port once it listens (or has exited).

    `command(port)` gives its command line and environment; its output is appended to `log_path` (which says why
    it exited). A process whose port another took before it bound is started again on a fresh one.
    """
    for _ in range(PORT_RETRIES + 1):
        port = free_port()
        cmd, env = command(port)
        offset = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            proc = spawn_in_tree(cmd, env, log)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if (ports := listening_ports(proc.pid)) is None or port in ports:
                return proc, port
            if time.monotonic() > deadline:
                stop_session(proc, timeout=30)
                raise RuntimeError(f"{' '.join(cmd[:5])} did not listen on port {port} within {timeout:.0f}s")
            time.sleep(0.2)
        if not port_taken_since(log_path, offset):
            return proc, port
    raise RuntimeError(f"{' '.join(cmd[:5])}: its port was taken before it bound, {PORT_RETRIES + 1} times")


def free_port_pair() -> int:
    """A free port p with p+1 free too (a broker of a test's own: listener and controller)."""
    for _ in range(50):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no pair of free ports on 127.0.0.1")


@dataclass
class Workers:
    """The three services as separate `faust worker` processes sharing one namespace."""

    workdir: Path
    namespace: str
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # given: kept (others know them); else picked per start
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _fixed: set[str] = field(default_factory=set)
    _starts: dict[str, tuple[str, dict[str, str] | None, int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._fixed = set(self.ports)

    def log_path(self, service: str) -> Path:
        """Where a worker's output goes."""
        return self.workdir / f"{service}.log"

    def start(
        self, service: str, *, extra_env: dict[str, str] | None = None, replica: int = 0
    ) -> subprocess.Popen[bytes]:
        """Start one worker process (a second replica gets its own port and log)."""
        name = service if replica == 0 else f"{service}-{replica}"
        if name not in self.ports or (name not in self._fixed and self.port_taken(name)):
            self.ports[name] = free_port()  # a restart keeps its port unless another process took it meanwhile
        port = self.ports[name]
        log_path = self.log_path(name)
        self._starts[name] = (service, extra_env, replica, log_path.stat().st_size if log_path.exists() else 0)
        prefix = service.upper()
        env = {
            **os.environ,
            DEV_TRANSPORT: "true",  # the local receivers listen on loopback in clear; tests may override it
            **self.env,
            "REFERRAL_BUS_NAMESPACE": self.namespace,
            f"{prefix}_WEB_PORT": str(port),
            f"{prefix}_DATA_DIR": str(self.workdir / "faust"),
            f"{prefix}_LOG_FORMAT": "json",
            **(extra_env or {}),
        }
        with self.log_path(name).open("ab") as log:
            proc = spawn_in_tree(worker_command(f"services.{service}.app", env=env), env, log)
        self.procs[name] = proc
        return proc

    def start_all(self) -> None:
        """Start intake, routing and notifier."""
        for s in SERVICES:
            self.start(s)

    def port_taken(self, name: str) -> bool:
        """Whether the last start of `name` failed because another process took its web port before it bound."""
        return name in self._starts and port_taken_since(self.log_path(name), self._starts[name][3])

    def _listens(self, name: str) -> bool:
        """The worker itself listens on its port (not another process that took the port first)."""
        ports = listening_ports(self.procs[name].pid)
        return ports is None or self.ports[name] in ports

    def wait_ready(self, timeout: float = 90.0, names: list[str] | None = None) -> None:
        """Poll each worker's /readyz until it answers 200 (or fail with its log tail).

        A worker whose port another process took before it bound starts again on a fresh one (a given port: the same).
        """
        import httpx

        deadline = time.monotonic() + timeout
        pending = list(names or self.procs)
        retries = dict.fromkeys(pending, PORT_RETRIES)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                proc = self.procs[name]
                if proc.poll() is not None:
                    if self.port_taken(name) and retries[name] > 0:
                        retries[name] -= 1
                        service, extra_env, replica, _ = self._starts[name]
                        self.start(service, extra_env=extra_env, replica=replica)
                        continue
                    raise RuntimeError(f"worker {name} exited with {proc.returncode}:\n{self.tail(name)}")
                with contextlib.suppress(httpx.HTTPError):
                    ready = httpx.get(f"http://127.0.0.1:{self.ports[name]}/readyz", timeout=2).status_code == 200
                    if ready and self._listens(name):
                        pending.remove(name)
            time.sleep(0.3)
        if pending:
            raise RuntimeError(
                f"workers not ready after {timeout}s: {pending}\n" + "\n".join(self.tail(n) for n in pending)
            )

    def tail(self, name: str, lines: int = 30) -> str:
        """Last lines of a worker's log."""
        path = self.log_path(name)
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop one worker (SIGTERM and wait; SIGKILL when it does not leave in time)."""
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_session(proc, timeout=timeout, sig=sig)

    def stop_all(self) -> None:
        """Stop every worker."""
        for name in list(self.procs):
            self.stop(name)


@contextlib.contextmanager
def temp_workdir(prefix: str = "stack-") -> Iterator[Path]:
    """A scratch folder under .local/ (kept on failure for inspection when KEEP_STACK=1)."""
    base = REPO_ROOT / ".local" / "stacks"
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{prefix}{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        if not DevstackSettings().keep_stack:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running(
    namespace: str, env: dict[str, str], *services: str, prefix: str = "stack-", timeout: float = 120.0
) -> Iterator[Workers]:
    """Workers for `services` (all three when none is named) in a scratch folder, ready; stopped on leaving."""
    names = list(services or SERVICES)
    with temp_workdir(prefix) as work:
        workers = Workers(work, namespace, env)
        try:
            for name in names:
                workers.start(name)
            workers.wait_ready(names=names, timeout=timeout)
            yield workers
        finally:
            workers.stop_all()
