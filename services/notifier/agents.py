"""The notifier's three agents and their handlers: thin shells around deliver, backoff, breaker, acks, sla.

Every agent goes through Service.run_guarded, so any failure of one event is dead-lettered and the
partition goes on (Faust acknowledges an event even when the agent raises).
"""

from __future__ import annotations

import base64
import random
import time
from typing import Any

from referral_bus import metrics
from referral_bus.deadletter import SourceMessage, now_ms
from referral_bus.errors import DeliveryError
from referral_bus.tracing import stage_span
from services.notifier.acks import apply_ack
from services.notifier.backoff import Retry
from services.notifier.breaker import PAUSED, RESUMED, CircuitBreaker
from services.notifier.deliver import iso_utc, receipt
from services.notifier.keylocks import KeyLocks
from services.notifier.sla import delivered_state
from services.notifier.topology import acks_topic, delivered, parked, referrals_topic, released, retry_topic, state
from services.notifier.wiring import breakers, channel_of, deliverer, directory, emit, policy, requeue
from services.notifier.worker import app, codec, log, service, settings

FAILED = "FAILED"
QUEUED = "QUEUED"

locks = KeyLocks()  # referral id → one handling at a time on this worker (see KeyLocks)


@app.agent(referrals_topic)
async def notifier_agent(stream):  # type: ignore[no-untyped-def]
    """First attempts, several at once; every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handle_first, concurrency=settings.delivery_concurrency)


@app.agent(retry_topic)
async def retry_agent(stream):  # type: ignore[no-untyped-def]
    """Retries: park until due, then attempt."""
    await service.run_guarded(stream, handle_retry, concurrency=settings.delivery_concurrency)


@app.agent(acks_topic)
async def acks_agent(stream):  # type: ignore[no-untyped-def]
    """Acknowledgements close the loop."""
    await service.run_guarded(stream, handle_ack)


async def handle_first(msg: SourceMessage) -> None:
    """A referral from routing (or an SLA escalation)."""
    await handle(msg)


async def handle_retry(msg: SourceMessage) -> None:
    """A referral from the retry topic."""
    await handle(msg, from_retry=True)


async def handle(msg: SourceMessage, *, from_retry: bool = False) -> None:
    """One delivery attempt for one referral (or parking it, or deferring it while its recipient is paused)."""
    value = msg.value or b""
    referral = codec.decode(value, "Referral")
    async with locks.hold(referral["referral_id"]):
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
        detail = f"recipient paused by its circuit breaker; not attempted, next try after {iso_utc(retry_at)}"
        await emit(receipt(referral, QUEUED, channel=channel_of(recipient_id), detail=detail))
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
    recipient = directory.get(recipient_id)
    state[rid] = delivered_state(
        referral,
        value,
        msg.partition,
        recipient_target=recipient.escalation_target if recipient else None,
        delivered_at=now_ms(),
    )
    if breaker.success() == RESUMED:
        await emit(
            receipt(referral, RESUMED, channel=outcome.receipt["channel"], detail="probe delivered; recipient resumed")
        )
    await emit(outcome.receipt)
    at = outcome.delivered_at
    service.after_sent(lambda: deliverer.remember(rid, at), lambda: deliverer.forget(rid))
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


async def _on_failure(
    msg: SourceMessage, referral: dict[str, Any], exc: DeliveryError, breaker: CircuitBreaker
) -> None:
    """Retry later through the retry topic, or give up: FAILED receipt and dead letter."""
    rid, case_id, recipient_id = referral["referral_id"], referral["case_id"], referral["recipient_id"]
    attempts = referral.get("attempt", 0) + 1
    channel = channel_of(recipient_id)
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
            f"attempt {attempts} of {policy.max_attempts} failed: {exc}; next attempt after {iso_utc(step.not_before)}"
        )
        await emit(receipt(referral, FAILED, channel=channel, attempt=attempts, detail=detail))
        return
    await emit(receipt(referral, FAILED, channel=channel, attempt=attempts, detail=f"{step.reason}: {exc}"))
    final = DeliveryError(f"{step.reason}; last error: {exc}", retryable=False)
    await service.dead_letter(msg, final, case_id=case_id, referral_id=rid)


async def handle_ack(msg: SourceMessage) -> None:
    """Apply one acknowledgement to its referral's state and emit the receipt that says so."""
    ack = codec.decode(msg.value or b"", "Acknowledgement")
    rid = ack["referral_id"]
    current = state.get(rid)
    updated = apply_ack(current, ack)  # raises for an ack no delivered referral here can take
    if updated is None:
        metrics.count("notifier", "ack_unchanged")
        return
    state[rid] = updated
    new = updated["status"]
    reason = (ack.get("reason") or "")[:200] or None
    record = receipt(
        {"referral_id": rid, "case_id": updated["case_id"], "recipient_id": updated["recipient_id"]},
        new,
        channel=None,
        detail=reason,
        latency_ms=max(0, ack["acknowledged_at"] - updated["delivered_at"]),
    )
    await emit(record)
    log.info("referral acknowledged", case_id=updated["case_id"], referral_id=rid, status=new)
    metrics.count("notifier", f"ack_{new.lower()}")
