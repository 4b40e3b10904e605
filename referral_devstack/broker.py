"""The local Apache Kafka broker (KRaft, single node, 127.0.0.1): resolve, format, start, stop."""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from referral_bus.settings import REPO_ROOT
from referral_devstack import processes
from referral_devstack.errors import BrokerError
from referral_devstack.settings import DevstackSettings

LOCAL_DIR = REPO_ROOT / "deploy" / "local"
LIB_DIR = LOCAL_DIR / "target" / "lib"
ANSWER_WAIT_SECONDS = 60.0  # a running broker on a loaded machine (make test) may take this long to answer


class LocalBroker(processes.LocalServer):
    """Paths and ports of the local broker; REFERRAL_BUS_BROKER_PORT (9092), REFERRAL_BUS_BROKER_DIR (.local/kafka)."""

    NAME: ClassVar[str] = "broker"

    @property
    def controller_port(self) -> int:
        """The KRaft controller listener: the next port up."""
        return self.port + 1

    @property
    def bootstrap(self) -> str:
        """Bootstrap address of the local broker."""
        return f"127.0.0.1:{self.port}"


def external_bootstrap(broker: LocalBroker) -> str | None:
    """The configured cluster when KAFKA_BOOTSTRAP_SERVERS points elsewhere than the local broker."""
    configured = DevstackSettings().kafka_bootstrap_servers
    if not configured:
        return None
    local = {f"127.0.0.1:{broker.port}", f"localhost:{broker.port}"}
    return None if configured.strip() in local else configured


def check_tools() -> None:
    """Java 17+ and Maven must be installed; say exactly what to install when not."""
    java = shutil.which("java")
    if java is None:
        raise BrokerError("Java 17 or newer is required for the local Kafka broker: install openjdk-17-jre-headless")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    m = re.search(r'version "(\d+)', out)
    if not m or int(m.group(1)) < 17:
        found = out.splitlines()[0] if out else "unknown"
        raise BrokerError(f"Java 17 or newer is required for the local Kafka broker (found: {found})")
    if shutil.which("mvn") is None and not any(LIB_DIR.glob("kafka_*.jar")):
        raise BrokerError("Maven is required once to resolve the local Kafka broker from Maven Central: install maven")


def resolve_jars() -> None:
    """Copy the broker and its runtime dependencies from Maven Central (cached in ~/.m2) once."""
    processes.run_setup_script(REPO_ROOT / "scripts" / "setup" / "kafka-jars.sh", BrokerError)


def _java_cmd(main: str, *args: str) -> list[str]:
    java = shutil.which("java") or "java"
    return [
        java,
        "-Xms256m",
        "-Xmx768m",
        "-XX:+UseG1GC",
        f"-Dlog4j2.configurationFile={LOCAL_DIR / 'log4j2.properties'}",
        "-cp",
        f"{LIB_DIR}/*",
        main,
        *args,
    ]


def _config(broker: LocalBroker) -> Path:
    template = (LOCAL_DIR / "server.properties.template").read_text(encoding="utf-8")
    path = broker.state_dir / "server.properties"
    text = template.format(port=broker.port, controller_port=broker.controller_port, data_dir=broker.state_dir / "data")
    path.write_text(text, encoding="utf-8")
    return path


def new_cluster_id() -> str:
    """A random KRaft cluster id that does not start with "-" (the storage tool would read it as an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _format(broker: LocalBroker, config: Path) -> None:
    if (broker.state_dir / "data" / "meta.properties").exists():
        return
    cluster_id = new_cluster_id()
    result = subprocess.run(
        _java_cmd("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config)),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BrokerError(f"formatting the broker's storage failed:\n{result.stdout}{result.stderr}")


async def probe(client_options: dict[str, Any], timeout: float = 3.0) -> bool:
    """True when a broker reached with these aiokafka options answers a metadata request."""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    client = AIOKafkaAdminClient(**client_options, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(client.start(), timeout)
        await asyncio.wait_for(client.list_topics(), timeout)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not answering (for this client) yet"
        return False
    finally:
        try:
            await client.close()
        except Exception:  # noqa: BLE001,S110 - closing a client that never connected
            pass


def answers(bootstrap: str, timeout: float = 3.0) -> bool:
    """True when a plaintext broker at `bootstrap` answers a metadata request."""
    return asyncio.run(probe({"bootstrap_servers": bootstrap}, timeout))


def listening(bootstrap: str) -> bool:
    """True when something accepts TCP connections at `bootstrap` (host:port), broker or not."""
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2.0):
            return True
    except OSError:
        return False


def answers_within(bootstrap: str, timeout: float) -> bool:
    """Poll `answers` until the broker at `bootstrap` answers (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if answers(bootstrap, timeout=max(1.0, min(5.0, deadline - time.monotonic()))):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def start(broker: LocalBroker | None = None, *, timeout: float = 120.0) -> str:
    """Start the broker in the background and return once it answers; harmless when already running.

    Whatever already listens on the port (ours by its pid file, or another) is waited for up to
    `ANSWER_WAIT_SECONDS` (slow to answer on a loaded machine) and never started a second time.
    """
    broker = broker or LocalBroker()
    external = external_bootstrap(broker)
    if external:
        return f"KAFKA_BOOTSTRAP_SERVERS={external}: using that cluster, nothing local started"
    if listening(broker.bootstrap):
        pid = broker.pid
        if answers_within(broker.bootstrap, ANSWER_WAIT_SECONDS):
            if pid is not None:
                return f"broker already running on {broker.bootstrap} (pid {pid})"
            return f"a broker already answers on {broker.bootstrap}"
        holder = f"the broker (pid {pid}, logs {broker.log_file})" if pid is not None else "a process"
        raise BrokerError(
            f"{holder} holds {broker.bootstrap} but did not answer a metadata request within "
            f"{ANSWER_WAIT_SECONDS:.0f}s; stop it (`referral-bus broker stop` for ours) or free the port"
        )
    check_tools()
    resolve_jars()
    broker.state_dir.mkdir(parents=True, exist_ok=True)
    config = _config(broker)
    _format(broker, config)
    ready = functools.partial(answers, broker.bootstrap, timeout=2.0)
    what = f"the broker on {broker.bootstrap}"
    proc = broker.launch(_java_cmd("kafka.Kafka", str(config)), ready, timeout=timeout, error=BrokerError, what=what)
    return f"broker started on {broker.bootstrap} (pid {proc.pid}, logs {broker.log_file})"


def stop(broker: LocalBroker | None = None, *, timeout: float = 30.0) -> str:
    """Stop the broker (SIGTERM, then SIGKILL after `timeout`)."""
    broker = broker or LocalBroker()
    if external_bootstrap(broker):
        return "KAFKA_BOOTSTRAP_SERVERS points at another cluster: nothing local to stop"
    pid = processes.terminate(broker.pid_file, timeout=timeout)
    if pid is None:
        return "broker not running"
    return f"broker stopped (pid {pid})"


def status(broker: LocalBroker | None = None) -> tuple[bool, str]:
    """(running, description)."""
    broker = broker or LocalBroker()
    external = external_bootstrap(broker)
    if external:
        ok = answers(external)
        return ok, f"external cluster {external}: {'answering' if ok else 'not answering'}"
    pid = broker.pid
    ok = answers(broker.bootstrap, timeout=2.0)
    if ok:
        return True, f"running on {broker.bootstrap}" + (f" (pid {pid})" if pid else " (not started by us)")
    return False, "stopped" if pid is None else f"process {pid} exists but does not answer on {broker.bootstrap}"
