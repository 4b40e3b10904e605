"""A local stack for `make run`, end-to-end tests, benchmarks and fault drills.

Real parts only: the three workers as separate `faust worker` processes, a real HTTP receiver
that records every webhook delivery, a real SMTP server (aiosmtpd) and a real Kafka consumer
of the partner topics. Each stack gets its own topic namespace so runs never see each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from referral_bus.settings import REPO_ROOT

SERVICES = ("intake", "routing", "notifier")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Delivery:
    """One request the webhook receiver got."""

    recipient_id: str
    idempotency_key: str
    headers: dict[str, str]
    body: bytes
    at_ms: int

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server standing in for agencies: records deliveries; can fail on purpose."""

    port: int = field(default_factory=free_port)
    deliveries: list[Delivery] = field(default_factory=list)
    behaviour: dict[str, Callable[[int], int]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    hang_seconds: float = 3600.0  # how long a "hang" (status 0) holds the request before answering 504
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """Base URL recipients' webhook URLs are rewritten to."""
        return f"http://127.0.0.1:{self.port}/agencies"

    async def _handle(self, request: web.Request) -> web.Response:
        recipient = request.match_info["recipient"]
        body = await request.read()
        key = request.headers.get("Idempotency-Key", "")
        n = self.attempts.get(key, 0) + 1
        self.attempts[key] = n
        status = self.behaviour[recipient](n) if recipient in self.behaviour else 200
        if status == 0:  # hang: let the client time out
            await asyncio.sleep(self.hang_seconds)
            status = 504
        if 200 <= status < 300:
            self.deliveries.append(Delivery(recipient, key, dict(request.headers), body, int(time.time() * 1000)))
        return web.json_response({"status": status}, status=status)

    async def start(self) -> None:
        """Listen on 127.0.0.1:port."""
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/agencies/{recipient}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class MailReceiver:
    """A real SMTP server (aiosmtpd) that keeps every message it receives."""

    port: int = field(default_factory=free_port)
    messages: list[Message] = field(default_factory=list)
    _controller: Any = None

    def start(self) -> None:
        """Listen on 127.0.0.1:port (its own thread, as aiosmtpd's Controller does)."""
        from aiosmtpd.controller import Controller

        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop the server thread."""
        if self._controller is not None:
            self._controller.stop()


def rewrite_directory(source: Path, target: Path, *, webhook_base: str, smtp_port: int) -> Path:
    """A copy of a recipients file whose webhooks and SMTP servers point at the local receivers."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for r in data["recipients"]:
        ch = r["channel"]
        if ch["type"] == "webhook":
            ch["url"] = f"{webhook_base}/{r['id']}"
        elif ch["type"] == "email":
            ch["smtp_host"], ch["smtp_port"] = "127.0.0.1", smtp_port
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def write_secrets(directory_file: Path, secrets_dir: Path) -> dict[str, str]:
    """A random webhook secret per webhook recipient, as mounted-Secret files; returns them."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for r in yaml.safe_load(directory_file.read_text(encoding="utf-8"))["recipients"]:
        secret = uuid.uuid4().hex
        (secrets_dir / f"webhook-{r['id']}").write_text(secret, encoding="utf-8")
        (secrets_dir / f"ack-token-{r['id']}").write_text(uuid.uuid4().hex, encoding="utf-8")
        out[r["id"]] = secret
    return out


def local_agencies(work: Path, web: WebhookReceiver, mail: MailReceiver) -> tuple[Path, dict[str, str]]:
    """The sample directory pointed at the local receivers, its secrets, and the workers' settings for both."""
    directory = rewrite_directory(
        REPO_ROOT / "config" / "recipients.yaml",
        work / "recipients.yaml",
        webhook_base=web.base_url,
        smtp_port=mail.port,
    )
    write_secrets(directory, work / "secrets")
    env = {
        "ROUTING_DIRECTORY_PATH": str(directory),
        "NOTIFIER_DIRECTORY_PATH": str(directory),
        "NOTIFIER_SECRETS_DIR": str(work / "secrets"),
    }
    return directory, env


@dataclass
class Workers:
    """The three services as separate `faust worker` processes sharing one namespace."""

    workdir: Path
    namespace: str
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_path(self, service: str) -> Path:
        """Where a worker's output goes."""
        return self.workdir / f"{service}.log"

    def start(
        self, service: str, *, extra_env: dict[str, str] | None = None, replica: int = 0
    ) -> subprocess.Popen[bytes]:
        """Start one worker process (a second replica gets its own port and log)."""
        name = service if replica == 0 else f"{service}-{replica}"
        port = self.ports.get(name) or free_port()
        self.ports[name] = port
        prefix = service.upper()
        env = {
            **os.environ,
            **self.env,
            "REFERRAL_BUS_NAMESPACE": self.namespace,
            f"{prefix}_WEB_PORT": str(port),
            f"{prefix}_DATA_DIR": str(self.workdir / "faust"),
            f"{prefix}_LOG_FORMAT": "json",
            **(extra_env or {}),
        }
        log = self.log_path(name).open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", f"services.{service}.app", "worker", "-l", "info"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_all(self) -> None:
        """Start intake, routing and notifier."""
        for s in SERVICES:
            self.start(s)

    def wait_ready(self, timeout: float = 90.0, names: list[str] | None = None) -> None:
        """Poll each worker's /readyz until it answers 200 (or fail with its log tail)."""
        import httpx

        deadline = time.monotonic() + timeout
        pending = list(names or self.procs)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"worker {name} exited with {proc.returncode}:\n{self.tail(name)}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{self.ports[name]}/readyz", timeout=2).status_code == 200:
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
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

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
        if os.environ.get("KEEP_STACK") != "1":
            shutil.rmtree(path, ignore_errors=True)


async def read_topic(
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 60.0,
    bootstrap: str | None = None,
) -> list[Any]:
    """Read `topic` from the beginning until `until(records)` holds or the deadline passes."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from referral_bus.kafka import client_kwargs
    from referral_bus.settings import KafkaSettings

    kwargs = client_kwargs(KafkaSettings())
    if bootstrap:
        kwargs["bootstrap_servers"] = bootstrap
    consumer = AIOKafkaConsumer(**kwargs, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while time.monotonic() < deadline:
            found = consumer.partitions_for_topic(topic)
            if found:
                partitions = found
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
        if not partitions:
            return records
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        while time.monotonic() < deadline and not until(records):
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(msgs)
        return records
    finally:
        await consumer.stop()


async def acknowledge(
    port: int,
    referral_id: str,
    token: str,
    outcome: str = "ACCEPTED",
    *,
    reason: str | None = None,
    case_id: str | None = None,
) -> int:
    """POST an acknowledgement to a notifier's `/referrals/{id}/ack` as a recipient would; the status code."""
    import httpx

    body: dict[str, Any] = {"outcome": outcome}
    if reason is not None:
        body["reason"] = reason
    if case_id is not None:
        body["case_id"] = case_id
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"http://127.0.0.1:{port}/referrals/{referral_id}/ack",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.status_code


def ack_token(secrets_dir: Path, recipient_id: str) -> str:
    """The ack token write_secrets gave a recipient."""
    return (secrets_dir / f"ack-token-{recipient_id}").read_text(encoding="utf-8").strip()
