"""Notifier worker: `faust -A services.notifier.app worker`.

Agents (all through Service.run_guarded, so no failure stops a partition):
- referrals: first delivery attempt of every referral (and of SLA escalations).
- retry: referrals whose attempt failed or whose recipient is paused. A record that is not due yet
  is *parked* in the changelogged `parked` table and the partition moves on at once; a timer
  re-produces it to the retry topic when due. Nothing ever sleeps in an agent, so one slow or
  failing recipient never holds up the others on its partition (see docs/webhooks.md).
- acks: recipients' acknowledgements (from the HTTP endpoint or produced directly), keyed by
  case_id like the referrals, so the `referral_state` lookup is partition-local.
Timers: release due parked retries; escalate delivered referrals nobody acknowledged in time.
Faust runs every timer on every worker and a memory table keeps keys written before a rebalance, so
both timers act only on entries of partitions this worker actively owns right now, and not at all
while a rebalance or table recovery is in progress.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import re
import time
from collections.abc import AsyncIterator
from typing import Any, cast

from aiokafka.partitioner import murmur2
from faust.types import TP
from faust.web import Request, Response, View

from referral_bus import logging as rb_logging
from referral_bus import metrics, topics
from referral_bus.deadletter import SourceMessage, now_ms
from referral_bus.directory import load_directory
from referral_bus.errors import AcknowledgementError, DeliveryError
from referral_bus.settings import NotifierSettings
from referral_bus.tracing import stage_span
from referral_bus.worker import Service
from services.notifier.acks import FINAL, authenticate, bearer, parse_body, transition
from services.notifier.backoff import Retry, RetryPolicy
from services.notifier.breaker import PAUSED, RESUMED, Breakers, CircuitBreaker
from services.notifier.channels.base import Channel
from services.notifier.channels.email import Email
from services.notifier.channels.partner import PartnerTopic
from services.notifier.channels.webhook import Webhook
from services.notifier.deliver import DELIVERED, Deliverer, receipt
from services.notifier.secrets import Secrets
from services.notifier.sla import escalation_referral, period_to_escalate

FAILED = "FAILED"
QUEUED = "QUEUED"
ESCALATED = "ESCALATED"
ESCALATION_RULE = "sla-escalation"
REFERRAL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

settings = NotifierSettings()
service = Service("notifier", settings)
app = service.app
log = rb_logging.get_logger()
codec = service.codec

referrals_topic = service.topic(topics.REFERRALS)
retry_topic = service.topic(topics.RETRY)
receipts_topic = service.topic(topics.RECEIPTS)
acks_topic = service.topic(topics.ACKS)

# All tables are written only while handling an event of a topic keyed by case_id, so each entry
# lives in the changelog partition of its case and is found again by the worker owning that case.
delivered = app.Table(
    "deliveries", default=None, partitions=service.kafka.topic_partitions, key_type=str, value_type=int
)
parked = app.Table("parked", default=None, partitions=service.kafka.topic_partitions, key_type=str)
state = app.Table("referral_state", default=None, partitions=service.kafka.topic_partitions, key_type=str)
# referral id → last SLA period escalated. Written by the SLA timer, which has no current event, so
# the changelog record goes explicitly to the referral's own partition (see _mark_escalated).
escalations = app.Table(
    "escalations", default=None, partitions=service.kafka.topic_partitions, key_type=str, value_type=int
)

secrets = Secrets(settings.secrets_dir)
directory = load_directory(settings.directory_path)
_partner_topics = {
    r.id: service.topic(topics.partner_topic(r.id)) for r in directory.recipients.values() if r.channel.type == "kafka"
}


async def _send_partner(recipient_id: str, key: bytes, value: bytes) -> None:
    await service.send(_partner_topics[recipient_id], key, value)


channels: dict[str, Channel] = {
    "webhook": Webhook(secrets, timeout_seconds=settings.http_timeout_seconds, verify_tls=settings.tls_verify),
    "email": Email(secrets, timeout_seconds=settings.http_timeout_seconds),
    "kafka": PartnerTopic(service.codec, _send_partner),
}
deliverer = Deliverer(directory, channels, delivered)
policy = RetryPolicy(settings.max_attempts, settings.backoff_base_seconds, settings.backoff_max_seconds)
breakers = Breakers(settings.breaker_failure_threshold, settings.breaker_reset_seconds)
released: set[str] = set()  # parked referrals re-produced by this worker, not yet seen back
_handling: dict[str, tuple[asyncio.Lock, int]] = {}  # referral id → its lock and how many hold or await it


@contextlib.asynccontextmanager
async def _one_at_a_time(rid: str) -> AsyncIterator[None]:
    """Serialise the handling of one referral id on this worker.

    Agents run NOTIFIER_DELIVERY_CONCURRENCY instances over the same partitions, so two copies of a
    referral (a Kafka redelivery, a re-sent escalation, a retry released while the previous attempt
    is still finishing) could otherwise both pass the `deliveries` check before either writes it. All
    copies share the case_id key, hence the partition, hence this worker.
    """
    lock, users = _handling.get(rid, (asyncio.Lock(), 0))
    _handling[rid] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _handling[rid]
        if users <= 1:
            del _handling[rid]
        else:
            _handling[rid] = (lock, users - 1)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _channel_of(recipient_id: str) -> str | None:
    r = directory.get(recipient_id)
    return r.channel.type if r else None


async def emit(record: dict[str, Any]) -> None:
    """Produce one receipt (keyed by case_id) and wait for the broker."""
    await service.send(receipts_topic, record["case_id"].encode(), codec.encode("DeliveryReceipt", record))


async def requeue(referral: dict[str, Any], *, attempt: int, not_before: int, last_error: str | None) -> None:
    """The referral to the retry topic, keyed by its case like everything else."""
    record = {**referral, "attempt": attempt, "not_before": not_before, "last_error": last_error}
    await service.send(retry_topic, referral["case_id"].encode(), codec.encode("Referral", record))


def _case_partition(case_id: str) -> int:
    """The partition the default (murmur2) partitioner gives a case_id key.

    Only for table entries written before they recorded their partition.
    """
    return int(murmur2(case_id.encode()) & 0x7FFFFFFF) % service.kafka.topic_partitions


def _partition_of(entry: dict[str, Any]) -> int:
    """The partition of the event that wrote a table entry, i.e. the entry's changelog partition."""
    partition = entry.get("partition")
    return partition if isinstance(partition, int) else _case_partition(entry["case_id"])


def _owned_partitions() -> frozenset[int] | None:
    """Partitions of the referrals topic this worker actively owns, or None during a rebalance/recovery.

    Retry, acks and the tables' changelogs are co-partitioned with it, so these are theirs too.
    """
    if app.rebalancing or app.in_recovery:
        return None
    name = referrals_topic.get_topic_name()
    return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name)


def _still_owned(partition: int) -> bool:
    """Whether this worker still actively owns `partition` (re-checked before each timer action)."""
    return not (app.rebalancing or app.in_recovery) and app.assignor.is_active(
        TP(referrals_topic.get_topic_name(), partition)
    )


def _remember_delivery(referral: dict[str, Any], value: bytes, partition: int) -> None:
    """The closed-loop state of a delivered referral (what the SLA timer and acks need)."""
    rid = referral["referral_id"]
    recipient = directory.get(referral["recipient_id"])
    is_escalation = ESCALATION_RULE in referral["rule_ids"]
    target = referral.get("escalation_target") or (
        recipient.escalation_target if recipient and not is_escalation else None
    )
    state[rid] = {
        "case_id": referral["case_id"],
        "recipient_id": referral["recipient_id"],
        "priority": referral["priority"],
        "ack_sla_seconds": referral["ack_sla_seconds"],
        "escalation_target": target,
        "delivered_at": now_ms(),
        "status": DELIVERED,
        "referral": base64.b64encode(value).decode("ascii") if target else None,
        "partition": partition,
    }


async def _on_failure(
    msg: SourceMessage, referral: dict[str, Any], exc: DeliveryError, breaker: CircuitBreaker
) -> None:
    """Retry later through the retry topic, or give up: FAILED receipt and dead letter."""
    rid, case_id, recipient_id = referral["referral_id"], referral["case_id"], referral["recipient_id"]
    attempts = referral.get("attempt", 0) + 1
    channel = _channel_of(recipient_id)
    log.warning(
        "delivery failed",
        case_id=case_id,
        referral_id=rid,
        recipient=recipient_id,
        attempt=attempts,
        error=str(exc),
        retryable=exc.retryable,
    )
    metrics.delivery(channel or "unknown", "failed")
    if exc.retryable and breaker.failure(time.time()) == PAUSED:
        await emit(
            receipt(
                referral,
                PAUSED,
                channel=channel,
                attempt=attempts,
                detail=f"recipient paused after repeated failures; probe in {settings.breaker_reset_seconds:g}s",
            )
        )
    step = policy.after_failure(attempts, retryable=exc.retryable, now_ms=now_ms())
    if isinstance(step, Retry):
        await requeue(referral, attempt=attempts, not_before=step.not_before, last_error=str(exc))
        detail = (
            f"attempt {attempts} of {policy.max_attempts} failed: {exc}; next attempt after {_iso(step.not_before)}"
        )
        await emit(receipt(referral, FAILED, channel=channel, attempt=attempts, detail=detail))
        return
    await emit(receipt(referral, FAILED, channel=channel, attempt=attempts, detail=f"{step.reason}: {exc}"))
    final = DeliveryError(f"{step.reason}; last error: {exc}", retryable=False)
    await service.dead_letter(msg, final, case_id=case_id, referral_id=rid)


async def handle(msg: SourceMessage, *, from_retry: bool = False) -> None:
    """One delivery attempt for one referral (or parking it, or deferring it while its recipient is paused)."""
    value = msg.value or b""
    referral = codec.decode(value, "Referral")
    async with _one_at_a_time(referral["referral_id"]):
        await _handle(msg, referral, value, from_retry=from_retry)


async def _handle(msg: SourceMessage, referral: dict[str, Any], value: bytes, *, from_retry: bool) -> None:
    """`handle` once no other copy of the same referral is being handled on this worker."""
    rid, case_id = referral["referral_id"], referral["case_id"]
    already = bool(delivered.get(rid))
    if from_retry:
        not_before = referral.get("not_before")
        if not already and not_before is not None and not_before > now_ms():
            parked[rid] = {
                "case_id": case_id,
                "not_before": not_before,
                "value": base64.b64encode(value).decode(),
                "partition": msg.partition,
            }
            return
        if parked.get(rid) is not None:
            del parked[rid]
        released.discard(rid)
    if already:
        metrics.count("notifier", "duplicate")
        return
    await _attempt(msg, referral, value)


async def _attempt(msg: SourceMessage, referral: dict[str, Any], value: bytes) -> None:
    """Admission by the recipient's breaker, then one delivery attempt and its receipts."""
    rid, case_id, recipient_id = referral["referral_id"], referral["case_id"], referral["recipient_id"]
    breaker = breakers.get(recipient_id)
    admission = breaker.admit(time.time())
    if not admission.allowed:
        retry_at = int(((admission.retry_at or time.time()) + random.random()) * 1000)
        await requeue(
            referral, attempt=referral.get("attempt", 0), not_before=retry_at, last_error=referral.get("last_error")
        )
        detail = f"recipient paused by its circuit breaker; not attempted, next try after {_iso(retry_at)}"
        await emit(receipt(referral, QUEUED, channel=_channel_of(recipient_id), detail=detail))
        return
    with stage_span(
        "notifier deliver",
        **{"referral_bus.case_id": case_id, "referral_bus.recipient_id": recipient_id},
    ):
        try:
            outcome = await deliverer.deliver(referral)
        except DeliveryError as exc:
            await _on_failure(msg, referral, exc, breaker)
            return
    if outcome.duplicate:
        metrics.count("notifier", "duplicate")
        return
    assert outcome.receipt is not None
    _remember_delivery(referral, value, msg.partition)
    if breaker.success() == RESUMED:
        await emit(
            receipt(referral, RESUMED, channel=outcome.receipt["channel"], detail="probe delivered; recipient resumed")
        )
    await emit(outcome.receipt)
    log.info(
        "referral delivered",
        case_id=case_id,
        referral_id=rid,
        recipient=recipient_id,
        channel=outcome.receipt["channel"],
        attempt=outcome.receipt["attempt"],
        latency_ms=outcome.receipt["latency_ms"],
    )
    metrics.delivery(outcome.receipt["channel"], "delivered", latency_ms=outcome.receipt["latency_ms"])


async def handle_first(msg: SourceMessage) -> None:
    """A referral from routing (or an SLA escalation)."""
    await handle(msg)


async def handle_retry(msg: SourceMessage) -> None:
    """A referral from the retry topic."""
    await handle(msg, from_retry=True)


async def handle_ack(msg: SourceMessage) -> None:
    """Apply one acknowledgement to its referral's state and emit the receipt that says so."""
    ack = codec.decode(msg.value or b"", "Acknowledgement")
    rid = ack["referral_id"]
    current = state.get(rid)
    if current is None:
        exc = AcknowledgementError(
            "no delivered referral with this id on the acknowledgement's partition: "
            "key acknowledgements by the referral's case_id",
            field="referral_id",
        )
        exc.referral_id = rid
        raise exc
    if current["recipient_id"] != ack["recipient_id"]:
        exc = AcknowledgementError("acknowledgement from a recipient other than the referral's", field="recipient_id")
        exc.referral_id, exc.case_id = rid, current["case_id"]
        raise exc
    new = transition(current["status"], ack)
    if new is None:
        metrics.count("notifier", "ack_unchanged")
        return
    state[rid] = {**current, "status": new, "acked_at": ack["acknowledged_at"], "referral": None}
    reason = (ack.get("reason") or "")[:200] or None
    record = receipt(
        {"referral_id": rid, "case_id": current["case_id"], "recipient_id": current["recipient_id"]},
        new,
        channel=None,
        detail=reason,
        latency_ms=max(0, ack["acknowledged_at"] - current["delivered_at"]),
    )
    await emit(record)
    log.info("referral acknowledged", case_id=current["case_id"], referral_id=rid, status=new)
    metrics.count("notifier", f"ack_{new.lower()}")


@app.agent(referrals_topic, concurrency=settings.delivery_concurrency)
async def notifier_agent(stream):  # type: ignore[no-untyped-def]
    """First attempts; every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handle_first)


@app.agent(retry_topic, concurrency=settings.delivery_concurrency)
async def retry_agent(stream):  # type: ignore[no-untyped-def]
    """Retries: park until due, then attempt."""
    await service.run_guarded(stream, handle_retry)


@app.agent(acks_topic)
async def acks_agent(stream):  # type: ignore[no-untyped-def]
    """Acknowledgements close the loop."""
    await service.run_guarded(stream, handle_ack)


@app.timer(settings.retry_release_interval_seconds)  # type: ignore[untyped-decorator]
async def release_due_retries() -> None:
    """Re-produce parked referrals whose time has come (the retry agent then attempts them)."""
    try:
        owned = _owned_partitions()
        if owned is None:
            return
        now = now_ms()
        for rid, entry in list(parked.items()):
            if entry is None or entry["not_before"] > now or rid in released:
                continue
            if _partition_of(entry) not in owned or not _still_owned(_partition_of(entry)):
                continue
            released.add(rid)
            try:
                await service.send(retry_topic, entry["case_id"].encode(), base64.b64decode(entry["value"]))
            except Exception as exc:  # noqa: BLE001 - try again on the next tick
                released.discard(rid)
                log.error("could not release a parked retry", referral_id=rid, error=type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - a timer must never stop the worker
        log.error("retry release failed", error=type(exc).__name__)


@app.timer(settings.sla_check_interval_seconds)  # type: ignore[untyped-decorator]
async def check_sla() -> None:
    """Escalate delivered referrals with no acknowledgement within their SLA, once per SLA period.

    Only referrals of partitions this worker actively owns (every worker runs this timer). The
    durable mark is written after the escalation and its receipt are acknowledged by the broker, so
    a crash in between repeats the escalation (at-least-once) rather than losing it; the escalation
    referral's deterministic id lets the delivery path and the target drop that duplicate.
    """
    try:
        owned = _owned_partitions()
        if owned is None:
            return
        now = now_ms()
        for rid, st in list(state.items()):
            if st is None:
                continue
            partition = _partition_of(st)
            if partition not in owned:
                continue
            period = period_to_escalate(st, escalations.get(rid), now)
            if period is None or not _still_owned(partition):
                continue
            try:
                await _escalate(rid, st, period, now)
                await _mark_escalated(rid, partition, period)
            except Exception as exc:  # noqa: BLE001 - try again on the next tick; the others go on
                log.error("could not escalate an overdue referral", referral_id=rid, error=type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - a timer must never stop the worker
        log.error("SLA check failed", error=type(exc).__name__)


async def _mark_escalated(rid: str, partition: int, period: int) -> None:
    """Durably record that `period` of referral `rid` is escalated, in the referral's own partition.

    `escalations[rid] = period` only works inside an agent (Faust takes the changelog partition from
    the current event), so this does what that assignment does, explicitly: the changelog record to
    `partition` — where `referral_state[rid]` lives, so the worker that owns the referral after a
    restart or rebalance recovers the mark with it — awaited until the broker acknowledges it, then
    the local store.
    """
    await escalations.send_changelog(partition, rid, period)
    escalations.data[rid] = period


async def _escalate(rid: str, st: dict[str, Any], period: int, now: int) -> None:
    target = st.get("escalation_target")
    metrics.sla_breach(st["recipient_id"], st["priority"])
    base = {"referral_id": rid, "case_id": st["case_id"], "recipient_id": st["recipient_id"]}
    if target and st.get("referral"):
        original = codec.decode(base64.b64decode(st["referral"]), "Referral")
        escalation = escalation_referral(original, target, period, now)
        await service.send(referrals_topic, st["case_id"].encode(), codec.encode("Referral", escalation))
        detail = f"no acknowledgement within {st['ack_sla_seconds']}s; escalated to {target} (period {period})"
    else:
        detail = f"no acknowledgement within {st['ack_sla_seconds']}s; no escalation target configured"
    await emit(receipt(base, ESCALATED, channel=None, attempt=period, detail=detail))
    log.warning("acknowledgement overdue", case_id=st["case_id"], referral_id=rid, escalated_to=target, period=period)


def _ack_tokens() -> dict[str, str]:
    """Every recipient's ack token that is configured (read on each call, so rotation needs no restart)."""
    tokens = {}
    for recipient_id in directory.recipients:
        token = secrets.get(f"ack-token-{recipient_id}")
        if token:
            tokens[recipient_id] = token
    return tokens


async def _read_at_most(stream: Any, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds `limit` bytes (never buffers more than limit + 1)."""
    body = bytearray()
    while True:
        chunk = await stream.read(limit + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            return None


@app.page("/referrals/{referral_id}/ack")
class AckView(View):
    """`POST /referrals/{id}/ack` with `Authorization: Bearer <recipient's ack token>`.

    401 for a missing or wrong token whatever the referral, so the endpoint says nothing about which
    referrals exist; 202 once the acknowledgement is on the acks topic (the acks agent applies it).
    """

    async def post(self, request: Request, referral_id: str) -> Response:
        """Authenticate, bound and parse the body, produce an Acknowledgement keyed by case_id."""
        raw_request = cast(Any, request)
        recipient_id = authenticate(bearer(raw_request.headers.get("Authorization")), _ack_tokens())
        if recipient_id is None:
            return self.error(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        limit = settings.ack_max_body_bytes
        if (raw_request.content_length or 0) > limit:
            return self.error(413, f"body larger than {limit} bytes")
        raw = await _read_at_most(raw_request.content, limit)
        if raw is None:
            return self.error(413, f"body larger than {limit} bytes")
        if not REFERRAL_ID.match(referral_id):
            return self.error(404, "no such referral for this recipient")
        try:
            parsed = parse_body(raw)
        except AcknowledgementError as exc:
            return self.error(400, str(exc))
        current = state.get(referral_id)
        if current is not None and current["recipient_id"] != recipient_id:
            return self.error(404, "no such referral for this recipient")
        case_id = current["case_id"] if current is not None else parsed.case_id
        if case_id is None:
            return self.error(404, "no such referral for this recipient (send case_id when it was just delivered)")
        if current is not None and current["status"] in FINAL:
            return self.json({"status": "unchanged", "referral_id": referral_id}, status=200)
        ack = {
            "referral_id": referral_id,
            "recipient_id": recipient_id,
            "outcome": parsed.outcome,
            "reason": parsed.reason,
            "acknowledged_at": now_ms(),
        }
        await service.send(acks_topic, case_id.encode(), codec.encode("Acknowledgement", ack))
        return self.json({"status": "accepted", "referral_id": referral_id}, status=202)
