"""Fault harness: the three real workers, the real broker, a stream of reports, and the books.

A scenario builds a `Stack` (workers + a webhook receiver in its own thread), generates a `Stream`
of reports (valid ones, exact duplicates, invalid ones, and linked reports: other agencies reporting
content already reported, about other victims), produces it while `Fault`s fire at chosen points,
waits until the pipeline drains and then checks the books:

- every report's expected referrals were delivered at least once: one per (report, recipient), a
  linked report's own included whether it joined the first case or not (lost = 0); a linked report
  that joined a case also updates the case's other holders (allowed, counted in a note);
- every delivery of one referral carried the same idempotency key (its referral id);
- every invalid report is in the dead-letter topic with its original bytes;
- produced = accepted + duplicates + dead-lettered, exactly.

The expected recipients come from the same rules and directory the routing worker loads
(`load_rules` + `decide` on the validated reports), as the end-to-end test does. The directory is
rewritten so that every recipient is a webhook at the local receiver, which keeps the books to one
channel. Everything here goes through public behaviour: topics, deliveries and dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from referral_bus import topics
from referral_bus.codec import Codec
from referral_bus.settings import REPO_ROOT
from referral_devstack.agencies import write_secrets
from referral_devstack.inbox import write_inbox_secrets
from referral_devstack.reading import read_topic
from referral_devstack.receivers import Delivery, WebhookReceiver
from referral_devstack.workers import Workers
from referral_domain.vocabulary import CATEGORIES, SEVERITIES
from tests.support.lanes import lane_names
from tests.support.settings import FaultsSettings

RULES = REPO_ROOT / "config" / "rules.yaml"
DIRECTORY = REPO_ROOT / "config" / "recipients.yaml"

# Faust reads these from the environment: a killed member leaves the group in seconds, not a minute.
FAST_GROUP_ENV = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
# A worker with records waiting and no progress for this long exits (referral_bus/watchdog.py) and
# `Stack.supervise` starts it again, as Kubernetes would.
FAULTS = FaultsSettings()
STALL_TIMEOUT = FAULTS.worker_stall_timeout
WATCHDOG_ENV = {f"{s}_STALL_TIMEOUT_SECONDS": STALL_TIMEOUT for s in ("INTAKE", "ROUTING", "NOTIFIER")}

FULL = FAULTS.full


def log(msg: str) -> None:
    """Progress line (pytest -s shows it; kept in the captured output otherwise)."""
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- directory


def webhook_only_directory(target: Path, webhook_base: str, source: Path = DIRECTORY) -> Path:
    """The shipped directory with every recipient's channel replaced by a webhook at the receiver."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for r in data["recipients"]:
        r["channel"] = {"type": "webhook", "url": f"{webhook_base}/{r['id']}"}
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


# --------------------------------------------------------------------------- the stream

KINDS = ["police", "child_protection", "social_services", "hotline", "health", "international_partner"]
AGENCIES = ["vn-hotline-111", "platform-examplesocial", "ngo-safe-online"]


@dataclass
class Stream:
    """What a scenario produces, in order, and what the books must show afterwards."""

    records: list[tuple[bytes, bytes]]  # (key, value) in produce order
    valid: dict[str, str]  # report key (agency/report) → case id of each distinct valid report
    invalid: list[bytes]  # values that must be dead-lettered by intake
    duplicates: int  # exact re-sends of a valid report
    expected: set[tuple[str, str]]  # (report key, recipient_id): every report's own referrals
    linked: int = 0  # reports of another agency about content already in the stream (other victims)


def report_of(case_or_referral: dict[str, Any]) -> str:
    """The report key (agency/report) of a Case, a Referral or a delivered document (its case's report)."""
    case = case_or_referral.get("case", case_or_referral)
    return f"{case['report']['agency_id']}/{case['report']['report_id']}"


def _jurisdictions(directory: Path) -> list[str]:
    data = yaml.safe_load(directory.read_text(encoding="utf-8"))
    codes = sorted({c for r in data["recipients"] for c in r["jurisdictions"]})
    return codes


def random_report(rng: random.Random, i: int, run: str, codes: list[str]) -> dict[str, Any]:
    """A valid CaseReport record (Avro form: epoch-ms timestamps) with fictional content."""
    band = rng.choice(["UNKNOWN", "UNDER_13", "AGE_13_15", "AGE_16_17", "ADULT", "ADULT"])
    minor = band in ("UNDER_13", "AGE_13_15", "AGE_16_17") or (band == "UNKNOWN" and rng.random() < 0.5)
    if minor:
        consent = rng.choice(["NOT_REQUIRED_CHILD", "NOT_REQUIRED_CHILD", "GIVEN", "NOT_ASKED"])
    else:
        consent = rng.choice(["GIVEN", "REFUSED", "NOT_ASKED"])
    now = int(time.time() * 1000)
    country = rng.choice([None, "VN", "PH", "US", "KH", "TH"])
    return {
        "report_id": f"F{run}-{i:06d}",
        "agency_id": rng.choice(AGENCIES),
        "source_system": "fault-suite",
        "reported_at": now - rng.randint(0, 7 * 86_400_000),
        "received_at": now,
        "category": rng.choice(CATEGORIES),
        "severity": rng.choice(SEVERITIES),
        "escalation_reason": None,
        "victim": {
            "age_band": band,
            "is_minor": minor,
            "jurisdiction": rng.choice(codes),
            "name": f"SAMPLE victim {i}",
            "contact": f"+84 900 {i:06d}",
            "account_handle": None,
        },
        "offender": {"country": country, "account_handle": f"@sample_{i}", "ip_address": None, "name": None},
        "hosting_country": rng.choice([None, "US", "VN", "SG"]),
        "platform": rng.choice([None, "ExampleSocial", "ExampleGameChat"]),
        "content_hashes": [],
        "content_urls": [f"https://social.example.invalid/p/{i}"],
        "preservation_requested": rng.random() < 0.3,
        "consent": consent,
        "consented_services": rng.sample(KINDS, rng.randint(0, 3)) if not minor else [],
        "reporter_contact": None,
        "narrative": f"SAMPLE fault-suite narrative {i}",
    }


def _invalid(rng: random.Random, i: int, run: str, codes: list[str], codec: Codec) -> tuple[bytes, bytes]:
    """One of four kinds of bad input: unknown jurisdiction, contradictory age, garbage, truncated Avro."""
    kind = i % 4
    report = random_report(rng, i, run + "x", codes)
    key = f"{report['agency_id']}/{report['report_id']}".encode()
    if kind == 0:
        report["victim"]["jurisdiction"] = "ZZ-99"
        return key, codec.encode("CaseReport", report)
    if kind == 1:
        report["victim"].update(age_band="UNDER_13", is_minor=False)
        report["consent"] = "GIVEN"
        return key, codec.encode("CaseReport", report)
    if kind == 2:
        return key, b"not avro " + uuid.uuid4().bytes
    return key, codec.encode("CaseReport", report)[:-7]


def _linked_copy(rng: random.Random, first: dict[str, Any], j: int, run: str, codes: list[str]) -> dict[str, Any]:
    """Another agency's report of the same content: another victim, province and severity, the URL as pasted."""
    report = random_report(rng, j, run, codes)
    report["report_id"] = f"F{run}-L{j:06d}"
    report["agency_id"] = rng.choice([a for a in AGENCIES if a != first["agency_id"]])
    url = first["content_urls"][0]
    report["content_urls"] = [rng.choice([url, url.replace("https://", "http://www.") + "/?utm_source=share"])]
    return report


def generate(
    n: int,
    directory: Path,
    *,
    seed: int = 8,
    duplicate_ratio: float = 0.05,
    invalid_ratio: float = 0.03,
    linked_ratio: float = 0.08,
) -> Stream:
    """`n` distinct reports plus linked reports, duplicates and invalid inputs mixed in; the expected referrals.

    A linked report (about `linked_ratio` of the reports get one or two) comes a little later in the
    stream from another agency, about the same content and another victim: it is expected to reach the
    recipients its own facts need, whichever case it joins.
    """
    from services.intake.accept import case_id_for, report_key
    from services.intake.report import validate
    from services.routing.rules import CaseView, load_rules

    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    codes = _jurisdictions(directory)
    codec = Codec()
    ruleset = load_rules(directory, RULES)
    records: list[tuple[bytes, bytes]] = []
    valid: dict[str, str] = {}
    invalid: list[bytes] = []
    expected: set[tuple[str, str]] = set()
    duplicates = linked = 0
    later: list[tuple[int, tuple[bytes, bytes]]] = []  # re-sends and linked reports due after report number i

    def add(report: dict[str, Any]) -> tuple[bytes, bytes]:
        checked = validate(report, now_ms=int(time.time() * 1000), clock_skew_ms=300_000)
        dkey = report_key(checked.agency_id, checked.report_id)
        case_id = case_id_for(checked.agency_id, checked.report_id)
        valid[dkey] = case_id
        case = {"case_id": case_id, "report": checked.model_dump()}
        for chosen in ruleset.decide(CaseView.from_case(case)).recipients:
            expected.add((dkey, chosen.recipient.id))
        return dkey.encode(), codec.encode("CaseReport", report)

    def due(at: int, record: tuple[bytes, bytes]) -> None:
        later.append((at, record))
        later.sort(key=lambda x: x[0])

    for i in range(n):
        while later and later[0][0] <= i:
            records.append(later.pop(0)[1])
        report = random_report(rng, i, run, codes)
        record = add(report)
        records.append(record)
        if rng.random() < duplicate_ratio:
            # an agency re-sending the same report a little later in the stream
            due(i + rng.randint(1, 40), record)
            duplicates += 1
        if rng.random() < linked_ratio:
            for _ in range(rng.choice([1, 1, 2])):
                due(i + rng.randint(20, 120), add(_linked_copy(rng, report, linked, run, codes)))
                linked += 1
        if rng.random() < invalid_ratio:
            bad = _invalid(rng, len(invalid), run, codes, codec)
            records.append(bad)
            invalid.append(bad[1])
    records.extend(r for _, r in later)
    return Stream(records, valid, invalid, duplicates, expected, linked)


# --------------------------------------------------------------------------- receiver in its own thread


class ReceiverThread:
    """The WebhookReceiver on its own event loop in a thread, so blocking test code never stalls it."""

    def __init__(self) -> None:
        self.receiver = WebhookReceiver()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhook-receiver", daemon=True)

    def start(self) -> None:
        """Start listening."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(30)

    def stop(self) -> None:
        """Stop listening and end the thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.receiver.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def base_url(self) -> str:
        """Base URL of the webhook endpoints."""
        return self.receiver.base_url

    def deliveries(self) -> list[Delivery]:
        """A snapshot of the deliveries so far."""
        return list(self.receiver.deliveries)

    def set_behaviour(self, recipient_id: str, fn: Callable[[int], int] | None) -> None:
        """Make one recipient answer with `fn(attempt)` (0 = hang), or normally again with None."""
        if fn is None:
            self.receiver.behaviour.pop(recipient_id, None)
        else:
            self.receiver.behaviour[recipient_id] = fn


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """Workers of one namespace against one broker, the receiver, and the record of faults."""

    work: Path
    namespace: str
    bootstrap: str
    receiver: ReceiverThread = field(default_factory=ReceiverThread)
    workers: Workers | None = None
    directory: Path | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    recoveries: list[float] = field(default_factory=list)
    restarts: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)  # per service (e.g. its credentials)
    _fault_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _rng: random.Random = field(default_factory=lambda: random.Random(8))

    async def start(self, services: Iterable[str] = ("intake", "routing", "notifier")) -> None:
        """Receiver, directory, secrets, then the workers; returns when every worker is ready."""
        self.receiver.start()
        self.directory = webhook_only_directory(self.work / "recipients.yaml", self.receiver.base_url)
        self.secrets = write_secrets(self.directory, self.work / "secrets")
        write_inbox_secrets(self.directory, self.work / "secrets", iterations=1_000)  # for an inbox worker
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "ROUTING_DIRECTORY_PATH": str(self.directory),
            "NOTIFIER_DIRECTORY_PATH": str(self.directory),
            "NOTIFIER_SECRETS_DIR": str(self.work / "secrets"),
            "INBOX_DIRECTORY_PATH": str(self.directory),
            "INBOX_SECRETS_DIR": str(self.work / "secrets"),
            **FAST_GROUP_ENV,
            **WATCHDOG_ENV,
            **self.extra_env,
        }
        self.workers = Workers(self.work, self.namespace, env)
        for s in services:
            self.workers.start(s, extra_env=self.service_env.get(s))
        await asyncio.to_thread(self.workers.wait_ready, 180.0)

    def _w(self) -> Workers:
        assert self.workers is not None, "stack not started"
        return self.workers

    async def start_worker(self, name: str, replica: int = 0) -> None:
        """Start one worker (or replica) and wait until it is ready."""
        service = name.split("-")[0]
        self._w().start(service, replica=replica, extra_env=self.service_env.get(service))
        await asyncio.to_thread(self._w().wait_ready, 180.0, [name])

    async def stop_worker(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop one worker with `sig` and wait for it to exit."""
        await asyncio.to_thread(self._w().stop, name, sig)

    async def bounce(self, name: str, sig: int, *, delay: float = 0.0) -> None:
        """Stop `name` with `sig`, wait `delay`, start it again; record kill → ready time."""
        async with self._fault_lock:  # one fault at a time, each fully recovered before the next
            await asyncio.sleep(self._rng.uniform(0.0, 3.0))  # a random moment of the worker's processing
            t0 = time.monotonic()
            log(f"{signal.Signals(sig).name} {name}")
            await self.stop_worker(name, sig)
            if delay:
                await asyncio.sleep(delay)
            replica = int(name.split("-")[1]) if "-" in name else 0
            await self.start_worker(name, replica)
            self.recoveries.append(time.monotonic() - t0)
            self.restarts += 1
            log(f"{name} ready again after {time.monotonic() - t0:.1f}s")

    def supervise(self) -> list[str]:
        """Restart workers that exited on their own (as Kubernetes would); returns their names."""
        w = self._w()
        died = [n for n, p in w.procs.items() if p.poll() is not None]
        for name in died:
            log(f"{name} exited with {w.procs[name].returncode}; restarting\n{w.tail(name, 8)}")
            w.procs.pop(name)
            replica = int(name.split("-")[1]) if "-" in name else 0
            w.start(name.split("-")[0], replica=replica, extra_env=self.service_env.get(name.split("-")[0]))
            self.restarts += 1
        return died

    @contextlib.asynccontextmanager
    async def supervised(self, every: float = 1.0) -> AsyncIterator[None]:
        """Within the block, restart any worker that exits on its own (e.g. its stall watchdog), every `every` s."""

        async def loop() -> None:
            while True:
                self.supervise()
                await asyncio.sleep(every)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def peak_rss_mb(self, name: str) -> float | None:
        """Peak resident memory (VmHWM) of a running worker, in MiB."""
        proc = self._w().procs.get(name)
        if proc is None:
            return None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def close_sync(self) -> None:
        """Stop every worker we started and the receiver."""
        if self.workers is not None:
            self.workers.stop_all()
        self.receiver.stop()


# --------------------------------------------------------------------------- producing with faults


def client(bootstrap: str) -> dict[str, Any]:
    """aiokafka options for `bootstrap`, with the TLS/SASL settings of this process' KAFKA_* environment."""
    from referral_bus.kafka import client_kwargs
    from referral_bus.settings import KafkaSettings

    return client_kwargs(KafkaSettings(bootstrap_servers=bootstrap))


@dataclass
class Fault:
    """An action fired once the stream has produced `at` records; it runs while the stream goes on."""

    at: int
    action: Callable[[], Awaitable[None]]
    label: str = ""


async def produce_stream(
    bootstrap: str,
    records: list[tuple[bytes, bytes]],
    faults: list[Fault] | None = None,
    *,
    batch: int = 20,
    duration: float = 0.0,
    gate: asyncio.Event | None = None,
) -> list[asyncio.Task[None]]:
    """Produce in order with acks=all (idempotent), spread over about `duration` seconds.

    Faults fire as their point in the stream passes and run while the stream goes on; their tasks are returned.
    """
    pause = duration / max(1, len(records) // batch)
    from aiokafka import AIOKafkaProducer

    topic = topics.name(topics.INTAKE)
    producer = AIOKafkaProducer(**client(bootstrap), acks="all", enable_idempotence=True, request_timeout_ms=120_000)
    await producer.start()
    pending = sorted(faults or [], key=lambda f: f.at)
    tasks: list[asyncio.Task[None]] = []
    try:
        for start in range(0, len(records), batch):
            while pending and pending[0].at <= start:
                tasks.append(asyncio.create_task(pending.pop(0).action()))
                await asyncio.sleep(0)
            if gate is not None:
                await gate.wait()
            futures = [await producer.send(topic, value, key=key) for key, value in records[start : start + batch]]
            for fut in futures:
                await fut
            await asyncio.sleep(pause)
        for f in pending:
            tasks.append(asyncio.create_task(f.action()))
    finally:
        await producer.stop()
    return tasks


RawMessage = tuple[bytes, bytes, int | None] | tuple[bytes, bytes, int | None, list[tuple[str, bytes]]]


async def produce_raw(bootstrap: str, topic: str, messages: Sequence[RawMessage], **options: Any) -> None:
    """Produce raw (key, value, partition[, headers]) messages to one topic and wait for the acks.
    `options` go to the producer (e.g. a larger max_request_size)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client(bootstrap), acks="all", **options)
    await producer.start()
    try:
        for key, value, partition, *headers in messages:
            await producer.send_and_wait(
                topic, value, key=key, partition=partition, headers=headers[0] if headers else None
            )
    finally:
        await producer.stop()


async def ensure_namespace_topics(bootstrap: str, partitions: int = 4) -> None:
    """Create the namespace's topics up front, so poison can be produced before the workers run."""
    from referral_bus.kafka import ensure_topics
    from referral_bus.settings import KafkaSettings

    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_partitions=partitions)
    await ensure_topics(kafka, [topics.name(t.name) for t in topics.ALL])


# --------------------------------------------------------------------------- the books


@dataclass
class Books:
    """One scenario's figures and every discrepancy found."""

    scenario: str
    produced: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    expected: int = 0
    delivered: int = 0
    redelivered: int = 0
    lost: int = 0
    recovery_s: float = 0.0
    drain_s: float = 0.0
    restarts: int = 0
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    HEADER = (
        f"{'scenario':<38} {'produced':>8} {'accepted':>8} {'dup-in':>6} {'dead-l.':>7} {'expected':>8} "
        f"{'delivered':>9} {'redeliv.':>8} {'lost':>5} {'recover_s':>9} {'drain_s':>7}"
    )

    def row(self) -> str:
        """One line of the table."""
        return (
            f"{self.scenario:<38} {self.produced:>8} {self.accepted:>8} {self.duplicates:>6} "
            f"{self.dead_lettered:>7} {self.expected:>8} {self.delivered:>9} {self.redelivered:>8} "
            f"{self.lost:>5} {self.recovery_s:>9.1f} {self.drain_s:>7.1f}"
        )


RESULTS: list[Books] = []


def table(rows: list[Books]) -> str:
    """The scenario table, with notes under it."""
    lines = [Books.HEADER, "-" * len(Books.HEADER)]
    lines += [b.row() for b in rows]
    for b in rows:
        lines += [f"  {b.scenario}: {n}" for n in b.notes]
    return "\n".join(lines)


def delivered_pairs(deliveries: list[Delivery]) -> dict[tuple[str, str], set[str]]:
    """(report key, recipient_id) → idempotency keys seen for it (a linked report counts as its own report)."""
    out: dict[tuple[str, str], set[str]] = {}
    for d in deliveries:
        doc = d.json()
        out.setdefault((report_of(doc), d.recipient_id), set()).add(d.idempotency_key)
    return out


STALL_SECONDS = FAULTS.stall_seconds


async def drain(stack: Stack, stream: Stream, timeout: float, *, expected: set[tuple[str, str]] | None = None) -> bool:
    """Wait until every expected referral was delivered, restarting workers that died on the way.

    Gives up early when nothing new was delivered for FAULTS_STALL_SECONDS (the rest is lost, not late).
    """
    want = stream.expected if expected is None else expected
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        stack.supervise()
        got = set(delivered_pairs(stack.receiver.deliveries()))
        if want <= got:
            return True
        if len(got) != last:
            last, last_change = len(got), time.monotonic()
        elif time.monotonic() - last_change > STALL_SECONDS:
            log(f"no progress for {STALL_SECONDS:.0f}s: {len(want - got)} of {len(want)} referrals outstanding")
            dump_stacks(stack)
            return False
        await asyncio.sleep(0.5)
    return False


def dump_stacks(stack: Stack) -> None:
    """py-spy stacks of every running worker into <work>/<name>.stack, for the post-mortem of a stall."""
    import shutil
    import subprocess
    import sys

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        log("py-spy not installed: no worker stacks (pip install py-spy)")
        return
    for name, proc in stack._w().procs.items():
        if proc.poll() is None:
            out = subprocess.run([spy, "dump", "--pid", str(proc.pid)], capture_output=True, text=True, check=False)
            (stack.work / f"{name}.stack").write_text(out.stdout + out.stderr, encoding="utf-8")
            log(f"{name}: stack in {stack.work / f'{name}.stack'}")


async def _positions(stream: Stream, got: set[tuple[str, str]], boot: str) -> str:
    """Where the lost referrals sit in the referrals lanes: the first thing to look at in a post-mortem."""
    codec = Codec()
    lost = stream.expected - got
    records = await read_topic(lane_names(), until=lambda rs: False, timeout=10, bootstrap=boot)
    where = []
    for r in records:
        with contextlib.suppress(Exception):
            ref = codec.decode(r.value, "Referral")
            if (report_of(ref), ref["recipient_id"]) in lost:
                where.append(f"{r.topic}:{r.partition}:{r.offset}")
    missing = len(lost) - len(where)
    return ", ".join(where[:20]) + (f"; {missing} never produced by routing" if missing > 0 else "")


async def check_books(
    scenario: str,
    stack: Stack,
    stream: Stream,
    *,
    drained: bool,
    drain_s: float,
    bootstrap: str | None = None,
    extra_dead_letters: int = 0,
) -> Books:
    """Read the cases and dead-letter topics and the receiver; compute the books; record problems."""
    codec = Codec()
    boot = bootstrap or stack.bootstrap
    produced = len(stream.records)
    n_valid, n_invalid = len(stream.valid), len(stream.invalid)
    b = Books(scenario, produced=produced, duplicates=stream.duplicates, expected=len(stream.expected))
    b.restarts = stack.restarts
    b.recovery_s = max(stack.recoveries, default=0.0)
    b.drain_s = drain_s

    valid_ids = set(stream.valid.values())
    valid_reports = set(stream.valid)
    case_ids: set[str] = set()
    reports: set[str] = set()
    joined: set[str] = set()  # linked reports that joined another agency's case
    seen_upto = [0]

    def all_cases(rs: list[Any]) -> bool:
        """Decode only the records read since the last call; done once every valid report has its case event."""
        for r in rs[seen_upto[0] :]:
            with contextlib.suppress(Exception):
                case = codec.decode(r.value, "Case")
                case_ids.add(case["case_id"])
                reports.add(report_of(case))
                if case["is_update"]:
                    joined.add(report_of(case))
        seen_upto[0] = len(rs)
        return valid_reports <= reports

    await read_topic(topics.name(topics.CASES), until=all_cases, timeout=120, bootstrap=boot)
    b.accepted = len(reports & valid_reports)
    b.notes.append(
        f"{stream.linked} linked reports (another agency, same content, another victim): "
        f"{len(joined & valid_reports)} joined the first case, the others opened their own; "
        f"expected counts every report's own referrals"
    )

    want_dl = n_invalid + extra_dead_letters
    intake_topic = topics.name(topics.INTAKE)
    letters: list[dict[str, Any]] = []
    invalid_values = set(stream.invalid)

    def all_letters(rs: list[Any]) -> bool:
        """Done once every invalid input and at least `extra_dead_letters` downstream letters are there."""
        letters.extend(codec.decode(r.value, "DeadLetter") for r in rs[len(letters) :])
        values = {d["original_value"] for d in letters if d["source_topic"] == intake_topic}
        downstream = sum(1 for d in letters if d["source_topic"] != intake_topic)
        return invalid_values <= values and downstream >= extra_dead_letters

    await read_topic(topics.name(topics.DEADLETTER), until=all_letters, timeout=60 if want_dl else 3, bootstrap=boot)
    intake_letters = {
        (d["source_partition"], d["source_offset"]): d for d in letters if d["source_topic"] == intake_topic
    }
    b.dead_lettered = len(intake_letters)
    letter_values = {d["original_value"] for d in intake_letters.values()}
    missing_dl = [v for v in stream.invalid if v not in letter_values]
    if missing_dl:
        b.problems.append(f"{len(missing_dl)} invalid inputs are not in the dead-letter topic")
    no_reason = [d for d in letters if not d["reason"] or not d["message"]]
    if no_reason:
        b.problems.append(f"{len(no_reason)} dead letters without a reason")
    other = [d for d in letters if d["source_topic"] != intake_topic]
    if len(other) > extra_dead_letters:
        reasons = sorted({f"{d['stage']}:{d['reason']}" for d in other})
        b.problems.append(f"{len(other) - extra_dead_letters} unexpected dead letters downstream: {reasons}")

    pairs = delivered_pairs(stack.receiver.deliveries())
    deliveries = stack.receiver.deliveries()
    got = set(pairs) & stream.expected
    b.delivered = len(got)
    b.lost = len(stream.expected - set(pairs))
    b.redelivered = len(deliveries) - len(pairs)
    if not drained:
        b.problems.append(f"not drained before the deadline: {b.lost} referrals outstanding")
    if b.lost:
        b.problems.append("lost referrals at (topic partition:offset) " + await _positions(stream, set(pairs), boot))
    # a linked report that joined a case also updates the case's holders (through the gate): not in
    # `expected` (whether a report joins depends on timing), so allowed when the document says "update"
    updates = {
        (report_of(doc), d.recipient_id) for d in deliveries if ((doc := d.json()).get("link") or {}).get("update")
    }
    unexpected = set(pairs) - stream.expected - updates
    if updates - stream.expected:
        b.notes.append(f"{len(updates - stream.expected)} update referrals to holders of a case beyond the expected")
    if unexpected:
        b.problems.append(f"{len(unexpected)} deliveries nobody expected, e.g. {sorted(unexpected)[:2]}")
    split = {p: k for p, k in pairs.items() if len(k) > 1}
    if split:
        b.problems.append(f"{len(split)} referrals delivered under more than one idempotency key")
    wrong_key = [d for d in deliveries if d.json()["referral_id"] != d.idempotency_key]
    if wrong_key:
        b.problems.append(f"{len(wrong_key)} deliveries whose Idempotency-Key is not their referral_id")
    if b.accepted != n_valid:
        b.problems.append(f"accepted {b.accepted} of {n_valid} distinct valid reports")
    extra_cases = case_ids - valid_ids
    if extra_cases:
        b.problems.append(f"{len(extra_cases)} cases that no valid report explains")
    if produced != b.accepted + b.duplicates + b.dead_lettered:
        b.problems.append(
            f"produced {produced} != accepted {b.accepted} + duplicates {b.duplicates}"
            f" + dead-lettered {b.dead_lettered}"
        )
    if b.delivered != b.expected:
        b.problems.append(f"delivered {b.delivered} != expected {b.expected}")
    RESULTS.append(b)
    log("\n" + table([b]))
    return b


# --------------------------------------------------------------------------- secrets


def find_secrets(secrets: dict[str, str], places: dict[str, bytes]) -> list[str]:
    """Which secret (by its name, never its value) appears in which place (log file, dead letter, body)."""
    found = []
    for name, value in secrets.items():
        needle = value.encode()
        for where, blob in places.items():
            if needle in blob:
                found.append(f"{name} in {where}")
    return found


def worker_logs(stack: Stack) -> dict[str, bytes]:
    """Every worker log of the stack's folder, as bytes."""
    return {p.name: p.read_bytes() for p in stack.work.glob("*.log")}
