"""A local Jaeger v2 (OTLP receiver + query API, in-memory storage) and a small client for its HTTP API.

The binary is built from the Go module proxy by `scripts/jaeger/install.sh` into `.local/bin/jaeger`
(cached). `Jaeger` starts one instance on 127.0.0.1 with its own generated config (the v2 config is
an OpenTelemetry Collector YAML: an OTLP receiver (HTTP and gRPC), the `jaeger_storage` memory backend
and the `jaeger_query` extension serving the UI and `/api/...`). Tests start their own on free ports;
`python -m referral_devstack.jaeger start` keeps one for development on the standard ports (4318 OTLP/HTTP,
4317 OTLP/gRPC, 16686 query), which `make run` exports to and `referral-bus trace` reads from.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from referral_bus.settings import REPO_ROOT
from referral_devstack.errors import TraceBackendError
from referral_devstack.processes import log_tail, start_session, stop_session, untraced_environment, wait_until
from referral_devstack.settings import DevstackSettings

BINARY = REPO_ROOT / ".local" / "bin" / "jaeger"
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "jaeger" / "install.sh"
LOCAL_DIR = REPO_ROOT / ".local" / "jaeger"
DEFAULT_OTLP_PORT = DevstackSettings().jaeger_otlp_port  # 4318 unless REFERRAL_BUS_JAEGER_OTLP_PORT
DEFAULT_OTLP_GRPC_PORT = DevstackSettings().jaeger_otlp_grpc_port  # 4317 unless REFERRAL_BUS_JAEGER_OTLP_GRPC_PORT
DEFAULT_QUERY_PORT = DevstackSettings().jaeger_query_port  # 16686 unless REFERRAL_BUS_JAEGER_QUERY_PORT


def install(timeout: float = 1800.0) -> Path:
    """Build the pinned Jaeger if `.local/bin/jaeger` is missing (idempotent; first build takes minutes)."""
    try:
        done = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TraceBackendError(f"building Jaeger took longer than {timeout:.0f}s; run {INSTALL_SCRIPT}") from None
    if done.returncode != 0 or not BINARY.exists():
        raise TraceBackendError(
            f"could not build Jaeger with {INSTALL_SCRIPT} (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    return BINARY


def config_yaml(
    *,
    otlp_port: int,
    query_port: int,
    grpc_port: int,
    otlp_grpc_port: int = DEFAULT_OTLP_GRPC_PORT,
    max_traces: int = 100_000,
) -> str:
    """Jaeger v2 configuration: OTLP/HTTP and OTLP/gRPC in, memory storage, query API; 127.0.0.1 only."""
    return f"""\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn

extensions:
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_port}
    grpc:
      endpoint: 127.0.0.1:{grpc_port}

  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: {max_traces}

receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc_port}

processors:
  batch:
    timeout: 200ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports free on 127.0.0.1 right now (all bound at once, so never the same twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


PORTS = ("otlp_port", "query_port", "grpc_port", "otlp_grpc_port")  # what config_yaml takes


@dataclass
class Jaeger:
    """One Jaeger process on 127.0.0.1 (started by `start`, stopped by `stop`); `ports` (PORTS) not given are free."""

    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        free = iter(free_ports(len(PORTS)))
        self.ports = {name: self.ports.get(name) or next(free) for name in PORTS}

    @property
    def otlp_endpoint(self) -> str:
        """Value for OTEL_EXPORTER_OTLP_ENDPOINT (the SDK appends /v1/traces)."""
        return f"http://127.0.0.1:{self.ports['otlp_port']}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        """OTEL_EXPORTER_OTLP_ENDPOINT for OTEL_EXPORTER_OTLP_PROTOCOL=grpc (plain text: `http://`)."""
        return f"http://127.0.0.1:{self.ports['otlp_grpc_port']}"

    def otlp_env(self, protocol: str = "http/protobuf") -> dict[str, str]:
        """The standard variables that export to this instance over `protocol` (grpc or http/protobuf)."""
        endpoint = self.otlp_grpc_endpoint if protocol == "grpc" else self.otlp_endpoint
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}

    @property
    def query_url(self) -> str:
        """Base URL of the UI and the HTTP query API."""
        return f"http://127.0.0.1:{self.ports['query_port']}"

    @property
    def log_path(self) -> Path:
        """Where Jaeger's own output goes."""
        return self.workdir / "jaeger.log"

    def start(self, timeout: float = 60.0) -> None:
        """Write the config, start the process and wait until the query API answers."""
        binary = install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "jaeger.yaml"
        config.write_text(config_yaml(**self.ports), encoding="utf-8")
        with self.log_path.open("ab") as log:
            self.proc = start_session(
                [str(binary), "--config", str(config)], log, env=untraced_environment(), cwd=self.workdir
            )
        try:
            code = wait_until(self.proc, JaegerClient(self.query_url).alive, timeout)
        except TimeoutError:
            self.stop()
            raise TraceBackendError(
                f"Jaeger's query API did not answer within {timeout:.0f}s:\n{self.tail()}"
            ) from None
        if code is not None:
            raise TraceBackendError(f"Jaeger exited with {code}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """Last lines of Jaeger's log."""
        return log_tail(self.log_path, lines) if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_session(proc, timeout=10)


class JaegerClient:
    """The parts of Jaeger's HTTP query API (`/api/...`) that `referral-bus trace` and the tests use."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            response = httpx.get(f"{self.base_url}{path}", params=params, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise TraceBackendError(
                f"cannot reach Jaeger at {self.base_url} ({type(exc).__name__}); start it with "
                "`python -m referral_devstack.jaeger start` or set REFERRAL_BUS_JAEGER_URL"
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TraceBackendError(f"Jaeger answered HTTP {response.status_code} for {path}")
        return response.json().get("data")

    def alive(self) -> bool:
        """True when the query API answers."""
        try:
            return httpx.get(f"{self.base_url}/api/services", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def services(self) -> list[str]:
        """Service names that have reported spans."""
        return sorted(self._get("/api/services") or [])

    def find(self, service: str, tags: dict[str, str], *, lookback: str = "24h", limit: int = 20) -> list[Any]:
        """Traces of `service` holding a span with all `tags` (Jaeger's tag search)."""
        params = {"service": service, "tags": json.dumps(tags), "lookback": lookback, "limit": str(limit)}
        return list(self._get("/api/traces", params) or [])

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """One whole trace in Jaeger's JSON model, or None."""
        data = self._get(f"/api/traces/{trace_id}")
        return data[0] if data else None


def _local_pidfile() -> Path:
    return LOCAL_DIR / "jaeger.pid"


def _start_local() -> tuple[str, Jaeger | None]:
    """The development instance on the standard ports: (what happened, the instance if this call started it)."""
    client = JaegerClient(f"http://127.0.0.1:{DEFAULT_QUERY_PORT}")
    if client.alive():
        return f"Jaeger already running: {client.base_url} (left running at the end)", None
    workdir = LOCAL_DIR if DEFAULT_QUERY_PORT == 16686 else LOCAL_DIR / f"port-{DEFAULT_QUERY_PORT}"
    ports = {"otlp_port": DEFAULT_OTLP_PORT, "query_port": DEFAULT_QUERY_PORT, "otlp_grpc_port": DEFAULT_OTLP_GRPC_PORT}
    jaeger = Jaeger(workdir, ports)
    jaeger.start()
    assert jaeger.proc is not None
    (workdir / "jaeger.pid").write_text(str(jaeger.proc.pid), encoding="utf-8")
    message = (
        f"Jaeger started: UI and API {jaeger.query_url}, OTLP/HTTP {jaeger.otlp_endpoint}, "
        f"OTLP/gRPC {jaeger.otlp_grpc_endpoint}"
    )
    return message, jaeger


def start_local() -> str:
    """Start the development instance on the standard ports unless one already answers."""
    return _start_local()[0]


def stop_local() -> str:
    """Stop the development instance this module started (by its pid file)."""
    pidfile = _local_pidfile()
    if not pidfile.exists():
        return "no local Jaeger started by referral-bus"
    pid = int(pidfile.read_text(encoding="utf-8"))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    pidfile.unlink()
    return f"Jaeger (pid {pid}) stopped"


def enable_local_tracing() -> tuple[str, Jaeger | None]:
    """For `make run`: start (building if needed) the development Jaeger and export spans to it.

    Sets OTEL_EXPORTER_OTLP_ENDPOINT for this process and the workers it starts; returns what happened and
    the instance when this call started it (the caller stops it). Never fails the demo: without Go or
    Jaeger it says why and tracing stays off.
    """
    from referral_bus import tracing

    if tracing.tracing_enabled():
        tracing.configure("referral-bus-cli")
        return "tracing: exporting to the configured OTEL_* endpoint", None
    try:
        note, started = _start_local()
    except TraceBackendError as exc:
        return f"tracing off: {exc}", None
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{DEFAULT_OTLP_PORT}"
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"  # the port above; whatever the shell had
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", "500")
    tracing.configure("referral-bus-cli")
    return f"{note}; `referral-bus trace REPORT_ID` prints a report's flow", started


def main(argv: list[str] | None = None) -> int:
    """`python -m referral_devstack.jaeger install|start|stop`."""
    args = argv if argv is not None else sys.argv[1:]
    action = args[0] if args else "start"
    try:
        if action == "install":
            print(install())
        elif action == "start":
            print(start_local())
        elif action == "stop":
            print(stop_local())
        else:
            print("usage: python -m referral_devstack.jaeger install|start|stop", file=sys.stderr)
            return 2
    except TraceBackendError as exc:
        print(f"referral-bus: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
