"""The three workers with tracing to a real local Jaeger: stack start/stop, polling, a sample report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from referral_bus.settings import REPO_ROOT
from referral_devstack.agencies import local_agencies
from referral_devstack.jaeger import Jaeger
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from referral_devstack.settings import DevstackSettings
from referral_devstack.workers import Workers

EXAMPLES = REPO_ROOT / "examples" / "reports.jsonl"


SERVICES = ("referral-bus-cli", "referral-bus-intake", "referral-bus-routing", "referral-bus-notifier")


def running_jaeger() -> Iterator[Jaeger]:
    """A real Jaeger v2 (installed on first use) on free ports, stopped when the generator closes."""
    base = REPO_ROOT / ".local" / "stacks"
    base.mkdir(parents=True, exist_ok=True)
    instance = Jaeger(base / f"jaeger-{os.getpid()}-{time.monotonic_ns()}")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        if not DevstackSettings().keep_stack:
            shutil.rmtree(instance.workdir, ignore_errors=True)


@dataclass
class Stack:
    """Receivers and the three workers, all exporting traces to one Jaeger."""

    work: Path
    web: WebhookReceiver
    mail: MailReceiver
    workers: Workers
    env: dict[str, str]

    def produce(self, reports: list[dict[str, Any]]) -> None:
        """`referral-bus produce FILE` as an agency runs it: a separate process, its own OTel SDK."""
        path = self.work / f"reports-{time.monotonic_ns()}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in reports), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "referral_cli.main", "produce", str(path)],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env, "OTEL_SERVICE_NAME": "referral-bus-cli"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr


def otel_env(jaeger: Jaeger) -> dict[str, str]:
    """The standard variables a deployment sets: OTLP/HTTP endpoint, short batching for the test."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


async def start_stack(
    work: Path, namespace: str, kafka: str, jaeger: Jaeger, otel: dict[str, str] | None = None
) -> Stack:
    """Start receivers and the three workers, each with its own OTEL_SERVICE_NAME; wait until ready.

    `otel`: more standard variables for the workers and `produce` (e.g. OTEL_TRACES_SAMPLER).
    """
    web, mail = WebhookReceiver(), MailReceiver()
    await web.start()
    mail.start()
    _, agencies = local_agencies(work, web, mail)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, **otel_env(jaeger), **(otel or {})}
    workers = Workers(work, namespace, {**env, **agencies})
    for service in ("intake", "routing", "notifier"):
        workers.start(service, extra_env={"OTEL_SERVICE_NAME": f"referral-bus-{service}"})
    workers.wait_ready()
    return Stack(work, web, mail, workers, {**env, "REFERRAL_BUS_NAMESPACE": namespace})


async def stop_stack(stack: Stack) -> None:
    """Stop workers (flushing their spans) and receivers."""
    stack.workers.stop_all()
    await stack.web.stop()
    stack.mail.stop()


def sample(report_id: str) -> dict[str, Any]:
    """One of the shipped sample reports."""
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        if line.strip() and json.loads(line)["report_id"] == report_id:
            return dict(json.loads(line))
    raise AssertionError(report_id)


def console_spans(out: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed in a process's output (before any `RESULT ` line), parsed."""
    text, blocks, depth, start = out.split("RESULT ", 1)[0], [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth, start = depth + 1, (i if depth == 0 else start)
        elif ch == "}":
            depth -= 1
            if depth == 0:
                blocks.append(json.loads(text[start : i + 1]))
    return blocks
