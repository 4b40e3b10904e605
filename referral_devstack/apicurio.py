"""The local schema registry (Apicurio Registry, Confluent-compatible API) for development and tests.

Built once from Maven Central by `deploy/local/registry/pom.xml` (Quarkus's own build step assembles
the runnable application), then run as one JVM on 127.0.0.1 with in-memory storage: every start is an
empty registry. Port from REFERRAL_BUS_REGISTRY_PORT (default 8081, the usual registry port). The
Confluent-compatible base URL, what KAFKA_SCHEMA_REGISTRY_URL takes, is `LocalRegistry.url`.
"""

from __future__ import annotations

import functools
import shutil
import time
import urllib.error
import urllib.request
from typing import ClassVar

from referral_bus.settings import REPO_ROOT
from referral_devstack import processes
from referral_devstack.errors import LocalRegistryError

BUILD_DIR = REPO_ROOT / "deploy" / "local" / "target" / "registry"
RUN_JAR = BUILD_DIR / "local-schema-registry-1.0.0-runner.jar"  # Quarkus "legacy-jar": runner + lib/
CCOMPAT_PATH = "/apis/ccompat/v6"


class LocalRegistry(processes.LocalServer):
    """Port, paths and URL of the local registry; REFERRAL_BUS_REGISTRY_PORT, REFERRAL_BUS_REGISTRY_DIR."""

    NAME: ClassVar[str] = "registry"

    @property
    def url(self) -> str:
        """The Confluent-compatible base URL (for KAFKA_SCHEMA_REGISTRY_URL)."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when a Confluent-compatible registry at `url` lists its subjects."""
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=timeout) as response:  # noqa: S310 - our own URL
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def build() -> None:
    """Resolve Apicurio Registry from Maven Central and build the runnable app, once (cached in ~/.m2)."""
    processes.run_setup_script(REPO_ROOT / "scripts" / "setup" / "registry-build.sh", LocalRegistryError)


def _java_cmd(reg: LocalRegistry) -> list[str]:
    java = shutil.which("java") or "java"
    return [
        java,
        "-Xms64m",
        "-Xmx384m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",  # quicker start-up; a test registry does little work
        f"-Dquarkus.http.port={reg.port}",
        "-Dquarkus.http.host=127.0.0.1",
        "-Dquarkus.log.level=WARN",
        "-Dregistry.auth.enabled=false",
        "-jar",
        str(RUN_JAR),
    ]


def start(reg: LocalRegistry | None = None, *, timeout: float = 120.0) -> str:
    """Start the registry in the background and return once it answers; harmless when already running."""
    reg = reg or LocalRegistry()
    if reg.pid is not None and answers(reg.url):
        return f"schema registry already running at {reg.url} (pid {reg.pid})"
    if answers(reg.url, timeout=1.0):
        return f"a schema registry already answers at {reg.url}"
    build()
    reg.state_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    ready = functools.partial(answers, reg.url, timeout=1.0)
    what = f"the schema registry at {reg.url}"
    proc = reg.launch(_java_cmd(reg), ready, timeout=timeout, error=LocalRegistryError, what=what, cwd=reg.state_dir)
    took = time.monotonic() - began
    return f"schema registry started at {reg.url} in {took:.1f}s (pid {proc.pid}, logs {reg.log_file})"


def stop(reg: LocalRegistry | None = None, *, timeout: float = 20.0) -> str:
    """Stop the registry we started (SIGTERM, then SIGKILL after `timeout`)."""
    reg = reg or LocalRegistry()
    pid = processes.terminate(reg.pid_file, timeout=timeout)
    if pid is None:
        return "schema registry not running" + (" (another process answers on its port)" if answers(reg.url) else "")
    return f"schema registry stopped (pid {pid})"


def status(reg: LocalRegistry | None = None) -> tuple[bool, str]:
    """(running, description)."""
    reg = reg or LocalRegistry()
    pid = reg.pid
    if answers(reg.url):
        return True, f"running at {reg.url}" + (f" (pid {pid})" if pid else " (not started by us)")
    return False, "stopped" if pid is None else f"process {pid} exists but does not answer at {reg.url}"
