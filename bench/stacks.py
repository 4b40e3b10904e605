"""The three pipelines under test, each as three real processes on the shared broker.

- `ours`: the real intake, routing and notifier workers (`faust -A services.<name>.app worker`).
- `faust`: three plain Faust pass-through workers (bench/baseline_faust.py), naive or `take` mode.
- `aiokafka`: three plain aiokafka consume→produce loops (bench/baseline_aiokafka.py).
- `aiokafka_records`: the same loops, each stage also writing the records our worker writes a report (EXTRA_RECORDS).

Every stack reads the same generated reports from its own intake topic and ends with one HTTP
POST per report to the same local receiver. Each stack has its own topic namespace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.reports import ReportStream
from bench.stackconfig import check_one_referral, write_agencies, write_config
from referral_bus import event_loop, topics
from referral_bus.kafka import ensure_topics
from referral_bus.settings import KafkaSettings, ServiceSettings
from referral_devstack.agencies import write_secrets
from referral_devstack.processes import stop_session, untraced_environment
from referral_devstack.workers import SERVICES, Workers, spawn_in_tree, spawn_on_free_port, worker_command
from services.intake.settings import IntakeSettings
from services.notifier.settings import NotifierSettings
from services.routing.settings import RoutingSettings

_DEFAULTS = ServiceSettings()
_LOCAL_DEFAULT = bool(IntakeSettings.model_fields["local_correlation"].default)  # INTAKE_LOCAL_CORRELATION unset
_SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "routing": RoutingSettings,
    "notifier": NotifierSettings,
}


def _service_linger_ms() -> dict[str, int]:
    """Each of our workers' own default producer linger (its settings class may choose its own)."""
    return {s: int(_SETTINGS[s].model_fields["producer_linger_ms"].default) for s in SERVICES}


@dataclass(frozen=True)
class Tuning:
    """The worker settings that matter; every stack gets the same values and the results name them."""

    partitions: int = 4
    stream_buffer_maxsize: int = 4096
    broker_commit_every: int = 100
    broker_commit_interval: float = 1.0
    producer_linger_ms: int = 5  # the baselines' (BENCH_LINGER_MS)
    # our services' own client settings and batch loop (their defaults; bench.run's `_tuning` applies BENCH_*)
    service_linger_ms: dict[str, int] = field(default_factory=_service_linger_ms)  # bench/results/bcpu.md
    producer_max_batch_size: int = _DEFAULTS.producer_max_batch_size
    broker_max_poll_records: int = _DEFAULTS.broker_max_poll_records
    consumer_fetch_min_bytes: int = _DEFAULTS.consumer_fetch_min_bytes
    consumer_fetch_max_wait_ms: int = _DEFAULTS.consumer_fetch_max_wait_ms
    consumer_fetch_gather_min_bytes: int = _DEFAULTS.consumer_fetch_gather_min_bytes
    consumer_fetch_gather_max_wait_ms: int = _DEFAULTS.consumer_fetch_gather_max_wait_ms
    batch_max_events: int = _DEFAULTS.batch_max_events
    batch_window_ms: float = _DEFAULTS.batch_window_ms
    # every process of every stack (and the driver, the receiver) on this loop, chosen once per run (EVENT_LOOP)
    event_loop: str = field(default_factory=event_loop.chosen)

    def service_env(self) -> dict[str, str]:
        """As our services read them (<PREFIX>_*, KAFKA_TOPIC_PARTITIONS)."""
        env = {"KAFKA_TOPIC_PARTITIONS": str(self.partitions), "EVENT_LOOP": self.event_loop}
        for s in SERVICES:
            p = s.upper()
            env |= {
                f"{p}_STREAM_BUFFER_MAXSIZE": str(self.stream_buffer_maxsize),
                f"{p}_BROKER_COMMIT_EVERY": str(self.broker_commit_every),
                f"{p}_BROKER_COMMIT_INTERVAL": str(self.broker_commit_interval),
                f"{p}_PRODUCER_LINGER_MS": str(self.service_linger_ms[s]),
                f"{p}_PRODUCER_MAX_BATCH_SIZE": str(self.producer_max_batch_size),
                f"{p}_BROKER_MAX_POLL_RECORDS": str(self.broker_max_poll_records),
                f"{p}_CONSUMER_FETCH_MIN_BYTES": str(self.consumer_fetch_min_bytes),
                f"{p}_CONSUMER_FETCH_MAX_WAIT_MS": str(self.consumer_fetch_max_wait_ms),
                f"{p}_CONSUMER_FETCH_GATHER_MIN_BYTES": str(self.consumer_fetch_gather_min_bytes),
                f"{p}_CONSUMER_FETCH_GATHER_MAX_WAIT_MS": str(self.consumer_fetch_gather_max_wait_ms),
                f"{p}_BATCH_MAX_EVENTS": str(self.batch_max_events),
                f"{p}_BATCH_WINDOW_MS": str(self.batch_window_ms),
            }
        return env

    def baseline_env(self) -> dict[str, str]:
        """As the baselines read them (BENCH_*)."""
        return {
            "KAFKA_TOPIC_PARTITIONS": str(self.partitions),
            "EVENT_LOOP": self.event_loop,
            "BENCH_STREAM_BUFFER_MAXSIZE": str(self.stream_buffer_maxsize),
            "BENCH_BROKER_COMMIT_EVERY": str(self.broker_commit_every),
            "BENCH_BROKER_COMMIT_INTERVAL": str(self.broker_commit_interval),
            "BENCH_LINGER_MS": str(self.producer_linger_ms),
        }


@dataclass
class OurStack:
    """The real services."""

    name: str
    namespace: str
    workdir: Path
    webhook_base: str
    tuning: Tuning
    otlp_endpoint: str | None = None
    traces_sampled: float | None = None  # ours_sampled: parentbased_traceidratio at this share; None: every report
    workers: Workers | None = None
    ledger: bool = False  # ours_ledger: the ledger worker chaining every disclosure, and cases sealed per case
    batch_max_events: int | None = None  # ours_unbatched: 1 (one event at a time); None: the services' default
    local_correlation: bool | None = None  # ours_hops: False (INTAKE_LOCAL_CORRELATION); None: the default

    @property
    def intake_topic(self) -> str:
        return f"{self.namespace}.{topics.INTAKE}"

    def start(self) -> None:
        directory, rules = write_config(self.workdir, self.webhook_base)
        check_one_referral(directory, rules, ReportStream().take(500))
        write_secrets(directory, self.workdir / "secrets")
        agencies = str(write_agencies(self.workdir))
        env = {
            **self.tuning.service_env(),
            "KAFKA_BOOTSTRAP_SERVERS": KafkaSettings().bootstrap_servers,
            "ROUTING_DIRECTORY_PATH": str(directory),
            "ROUTING_RULES_PATH": str(rules),
            "NOTIFIER_DIRECTORY_PATH": str(directory),
            "NOTIFIER_SECRETS_DIR": str(self.workdir / "secrets"),
            **{f"{s.upper()}_AGENCIES_PATH": agencies for s in SERVICES},
        }
        if self.batch_max_events is not None:
            env |= {f"{s.upper()}_BATCH_MAX_EVENTS": str(self.batch_max_events) for s in [*SERVICES, "ledger"]}
        if self.local_correlation is not None:
            env["INTAKE_LOCAL_CORRELATION"] = str(self.local_correlation).lower()
        if self.ledger:
            env["REFERRAL_BUS_SECRET_CASE_KEY_KEK"] = "bench-case-key-kek"  # intake seals, the others open
        env |= self.tracing_env()
        self.workers = Workers(self.workdir, self.namespace, env)
        # Workers merges os.environ: keep the caller's OTEL_* out of the workers
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("OTEL_")}
        try:
            self.workers.start_all()
            if self.ledger:
                (self.workdir / "secrets" / "ledger-checkpoint-key").write_text("bench-ledger-key", encoding="utf-8")
                self.workers.start("ledger", extra_env={"LEDGER_SECRETS_DIR": str(self.workdir / "secrets")})
        finally:
            os.environ.update(saved)
        self.workers.wait_ready(timeout=300)  # a loaded machine (make test beside other suites) starts slowly

    def tracing_env(self) -> dict[str, str]:
        """The workers' OTEL_* variables: export to the sink (every report, or a share: ours_sampled), or none."""
        if not self.otlp_endpoint:
            return {"OTEL_TRACES_EXPORTER": "none"}  # tracing off, metrics still on: the ratio isolates tracing
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint, "OTEL_TRACES_EXPORTER": "otlp"}
        if self.traces_sampled is not None:  # intake's process span decides (the driver sends no traceparent)
            env |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
            env |= {"OTEL_TRACES_SAMPLER_ARG": f"{self.traces_sampled:g}"}
        return env

    def pids(self) -> dict[str, int]:
        assert self.workers is not None
        return {n: p.pid for n, p in self.workers.procs.items()}

    def stop(self) -> None:
        """SIGTERM to every worker at once, then wait for each (they leave their groups in parallel)."""
        if self.workers is not None:
            for p in self.workers.procs.values():
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGTERM)
            self.workers.stop_all()

    def describe(self) -> dict[str, Any]:
        processes = [*SERVICES, "ledger"] if self.ledger else list(SERVICES)
        return {
            "kind": "ours",
            "tracing": bool(self.otlp_endpoint),
            "traces_sampled": self.traces_sampled if self.otlp_endpoint else None,
            "ledger": self.ledger,
            "batch_max_events": self.batch_max_events or self.tuning.batch_max_events,
            "local_correlation": _LOCAL_DEFAULT if self.local_correlation is None else self.local_correlation,
            "processes": processes,
        }


# aiokafka_records: what each of our workers writes a report besides the record it forwards (bench/results/records.md);
# a stage's topics of its own, but "status", one topic all three write (as ours' status topics of an agency)
EXTRA_RECORDS = {
    "intake": ("content", "content", "dedup", "status"),
    "routing": ("decisions", "routed", "status"),
    "notifier": ("receipts", "disclosures", "referral_state", "status"),
}


@dataclass
class BaselineStack:
    """Three pass-through processes: `faust` (mode naive|take) or `aiokafka`."""

    name: str
    kind: str
    namespace: str
    workdir: Path
    receiver_url: str
    tuning: Tuning
    mode: str = "naive"
    http_client: str = "aiohttp"
    extra_records: bool = False  # aiokafka_records: each stage also writes EXTRA_RECORDS
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def hops(self) -> list[str]:
        return [f"{self.namespace}.bench.{h}" for h in ("intake", "cases", "referrals")]

    @property
    def intake_topic(self) -> str:
        return self.hops[0]

    def extra_topics(self, stage: str) -> list[str]:
        """The topics a stage writes one record each to per record it consumes (a name twice: two records)."""
        if not self.extra_records:
            return []
        return [f"{self.namespace}.bench.{n if n == 'status' else f'{stage}-{n}'}" for n in EXTRA_RECORDS[stage]]

    async def create_topics(self) -> None:
        extra = sorted({t for stage in SERVICES for t in self.extra_topics(stage)})
        await ensure_topics(KafkaSettings(topic_partitions=self.tuning.partitions), [*self.hops, *extra])

    def start(self) -> None:
        """The three stages at once; a Faust stage (web server) returns once it listens on its free port."""
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            started = {stage: pool.submit(self._start_stage, i) for i, stage in enumerate(SERVICES)}
        self.procs = {stage: f.result() for stage, f in started.items() if f.exception() is None}  # stop() stops them
        for f in started.values():
            if (exc := f.exception()) is not None:
                raise exc

    def _start_stage(self, i: int) -> subprocess.Popen[bytes]:
        hops, stage = self.hops, SERVICES[i]

        def command(port: int) -> tuple[list[str], dict[str, str]]:
            env = {
                **untraced_environment(),
                **self.tuning.baseline_env(),
                "BENCH_STAGE": stage,
                "BENCH_SRC": hops[i],
                "BENCH_DST": hops[i + 1] if i + 1 < len(hops) else "",
                "BENCH_HTTP_URL": f"{self.receiver_url}/bench",
                "BENCH_GROUP": f"{self.namespace}-{self.kind}-{stage}",
                "BENCH_WEB_PORT": str(port),
                "BENCH_MODE": self.mode,
                "BENCH_HTTP_CLIENT": self.http_client,
                "BENCH_EXTRA_TOPICS": ",".join(self.extra_topics(stage)),
            }
            return worker_command("bench.baseline_faust", level="warn", env=env), env

        log_path = self.workdir / f"{self.name}-{stage}.log"
        if self.kind == "faust":
            return spawn_on_free_port(command, log_path)[0]
        _, env = command(0)  # no web server: no port
        with log_path.open("ab") as log:
            return spawn_in_tree([sys.executable, "-m", "bench.baseline_aiokafka"], env, log)

    def check_alive(self) -> None:
        for stage, p in self.procs.items():
            if p.poll() is not None:
                log = (self.workdir / f"{self.name}-{stage}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} {stage} exited with {p.returncode}:\n{log}")

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self.procs.items()}

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            stop_session(p, timeout=30)
        self.procs.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "mode": self.mode,
            "http_client": self.http_client,
            "extra_records_per_report": sum(len(self.extra_topics(s)) for s in SERVICES),
            "tracing": False,
            "processes": list(SERVICES),
        }
