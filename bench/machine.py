"""What the benchmark ran on: hardware, versions and load, so figures are read in context."""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from typing import Any

from bench.settings import BenchSettings
from referral_bus.settings import REPO_ROOT, KafkaSettings


def _mem_total_gb() -> float | None:
    try:
        for line in open("/proc/meminfo", encoding="ascii"):
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        return None
    return None


def _kafka_version() -> str:
    pom = REPO_ROOT / "deploy" / "local" / "pom.xml"
    m = re.search(r"<kafka.version>([^<]+)<", pom.read_text(encoding="utf-8")) if pom.exists() else None
    return m.group(1) if m else "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, Any]:
    cpu_model = ""
    try:
        cpu_model = next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="ascii") if "model name" in line),
            "",
        )
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": _mem_total_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "kafka_broker": {"bootstrap": KafkaSettings().bootstrap_servers, "version": _kafka_version()},
        "packages": {
            d: _version(d)
            for d in ("faust-streaming", "aiokafka", "fastavro", "httpx", "aiohttp", "opentelemetry-sdk", "structlog")
        },
        "note": note(),
    }


def note() -> str:
    """BENCH_MACHINE_NOTE when given, else what the load average at the start says of the machine."""
    if given := BenchSettings().machine_note:
        return given
    cpus, load = os.cpu_count() or 1, os.getloadavg()[0]
    quiet = "quiet" if load < 0.5 * cpus else "busy: figures are lower and noisier than on a quiet machine"
    return f"{cpus} cores, 1-minute load average {load:.2f} at the start ({quiet}); see each configuration's load"
