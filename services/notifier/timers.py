"""The notifier's two timers: release parked retries when due, escalate unacknowledged referrals.

Faust runs every timer on every worker, so both act only on entries of partitions this worker
actively owns right now, and not at all while a rebalance or table recovery is in progress (see
ownership.py). A timer never raises: a failed tick is logged and the next one tries again.
"""

from __future__ import annotations

import base64
from typing import Any

from referral_bus import metrics
from referral_bus.deadletter import now_ms
from services.notifier.deliver import receipt
from services.notifier.ownership import owned_partitions, partition_of, still_owned
from services.notifier.sla import escalation_referral, period_to_escalate
from services.notifier.topology import escalations, parked, referrals_topic, released, retry_topic, state
from services.notifier.wiring import emit
from services.notifier.worker import app, codec, log, service, settings

ESCALATED = "ESCALATED"


def _owned() -> frozenset[int] | None:
    """Partitions this worker actively owns now (those of the referrals topic, co-partitioned with all)."""
    return owned_partitions(app, referrals_topic.get_topic_name())


def _still_owned(partition: int) -> bool:
    return still_owned(app, referrals_topic.get_topic_name(), partition)


def _partition_of(entry: dict[str, Any]) -> int:
    return partition_of(entry, service.kafka.topic_partitions)


@app.timer(settings.retry_release_interval_seconds)  # type: ignore[untyped-decorator]
async def release_due_retries() -> None:
    """Re-produce parked referrals whose time has come (the retry agent then attempts them)."""
    try:
        owned = _owned()
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
        owned = _owned()
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
    """The escalation referral to the target (when there is one) and the ESCALATED receipt."""
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
