"""The notifier's handlers: one event (or timer tick) → the outcome decide.py, acks.py or sla.py gives → sends.

Every agent runs these through Service.run_guarded, so any failure of one event is dead-lettered and
the partition goes on. Tables are written only while handling an event of a topic keyed by case_id,
except the timers' writes (the SLA timer's escalation mark, an expired early acknowledgement's
tombstone), whose changelog records go explicitly to the entry's own partition (see `_mark_escalated`).
Every `referral_state` write goes through `_set_state`, which keeps the SLA timer's index (dueindex.py)
current; a referral's first (ROUTED) entry is changelogged at the end of its event only if the event did not
replace it (a delivered referral's state is written once).
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from referral_bus import logging as rb_logging
from referral_bus import metrics, summary
from referral_bus.clock import now_ms
from referral_bus.codec import Codec
from referral_bus.errors import AcknowledgementError, SafeguardRefusedError
from referral_bus.lanes import LaneTopics
from referral_bus.message import SourceMessage
from referral_bus.shell import Service
from referral_bus.tracing import stage
from referral_domain.directory import Directory
from referral_domain.safeguards import Facts, Gate
from services.notifier import earlyacks
from services.notifier.acks import apply_ack, check_recipient
from services.notifier.actions import RecipientActions
from services.notifier.backoff import RetryPolicy
from services.notifier.breaker import PAUSED, RESUMED, Breakers, CircuitBreaker, snapshot_key
from services.notifier.decide import (
    Abandon,
    Defer,
    Duplicate,
    Expire,
    Park,
    Requeue,
    on_admission,
    on_arrival,
    on_failure,
)
from services.notifier.deferred_trace import carried, resumed
from services.notifier.deliver import Deliverer, receipt
from services.notifier.delivered import DeliveredMarks, keep_mark
from services.notifier.errors import DeliveryError
from services.notifier.keylocks import KeyLocks
from services.notifier.ownership import partition_of
from services.notifier.pending import PendingIndex, awaiting_ack
from services.notifier.precedence import Precedence
from services.notifier.sla import (
    GIVEN_UP,
    NOT_DELIVERED,
    ack_clock,
    after_delivery,
    delivered_state,
    escalation_id,
    escalation_referral,
    next_due,
    not_delivered,
    overdue_detail,
    period_to_escalate,
    routed_state,
)

FAILED = "FAILED"
QUEUED = "QUEUED"
ESCALATED = "ESCALATED"
REFUSED = "REFUSED"

log = rb_logging.get_logger()

Owned = Callable[[], frozenset[int] | None]  # partitions this worker actively owns now, None while rebalancing
StillOwned = Callable[[int], bool]


@dataclass
class Topics:
    """The notifier's topics."""

    lanes: LaneTopics  # one referrals topic per priority lane (topic_catalog.LANES): escalations go to theirs
    retries: LaneTopics  # one retry topic per priority lane: retries and breaker deferrals go to theirs
    receipts: faust.TopicT
    acks: faust.TopicT  # written only by the authenticated HTTP endpoint (ackview)
    acks_in: faust.TopicT  # the acks agent's input: the shared topic and every recipient's own ack topic
    # broker topic name → the recipient whose own ack topic it is (only its agency may write there)
    recipient_of: dict[str, str] = field(default_factory=dict)
    disclosures: faust.TopicT | None = None  # Disclosure records for the ledger (referral_domain/disclosure.py)


@dataclass
class Tables:
    """The notifier's changelogged tables (names are part of the deployment: changelogs are named after them)."""

    delivered: DeliveredMarks  # referral id → when delivered (ms), kept in its `state` entry: the delivered-once check
    parked: Any  # referral id → a retry not due yet: case_id, not_before, the record (base64), partition
    state: Any  # referral id → the closed-loop state of a referral from its arrival (sla.routed_state, …)
    escalations: Any  # referral id → last SLA period escalated
    breakers: Any  # breaker.snapshot_key(recipient, partition) → the recipient's breaker (CircuitBreaker.snapshot)
    early_acks: Any = None  # referral id → acknowledgements that came before the referral (earlyacks.py)
    # Parked referrals re-produced by this worker and not seen back yet (memory only), so the retry
    # timer does not release one again on every tick while it is on its way.
    released: set[str] = field(default_factory=set)


@dataclass
class Notifier:
    """Everything a handler needs, built once by app.py."""

    service: Service
    topics: Topics
    tables: Tables
    directory: Directory
    deliverer: Deliverer
    policy: RetryPolicy
    breakers: Breakers
    breaker_reset_seconds: float
    owned: Owned
    still_owned: StillOwned
    gate: Gate  # the safeguards: checked before every delivery and every escalation
    locks: KeyLocks = field(default_factory=KeyLocks)  # referral id → one handling at a time on this worker
    # The SLA timer's index of this worker's awaiting referrals by next due time (rebuilt on (re)assignment)
    due: PendingIndex = field(default_factory=PendingIndex)  # its tally: the pending gauges (gauges.py)
    early_ack_limit: int = 10_000  # referrals with early acknowledgements kept at once on this worker
    early_ack_ttl_seconds: float = 7 * 86_400.0  # how long one waits for its referral before it is dead-lettered
    actions: RecipientActions | None = None  # the referral lifecycle (services/notifier/actions.py, lifecycle.py)
    # the urgent lane's events first: other lanes start none while one is in progress (precedence.py)
    precedence: Precedence = field(default_factory=lambda: Precedence(max_wait_s=1.0))
    # referral id → its ROUTED entry, visible on this worker but not changelogged yet (`_track`, `_write_routed`)
    routed: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def codec(self) -> Codec:
        """The worker's codec."""
        return self.service.codec

    # --- sends -------------------------------------------------------------------------------------------

    def channel_of(self, recipient_id: str) -> str | None:
        """The channel type of a recipient in the directory, or None for an unknown recipient."""
        r = self.directory.get(recipient_id)
        return r.channel.type if r else None

    async def emit(self, record: dict[str, Any]) -> None:
        """Produce one receipt (keyed by case_id); the referral's offset moves on only once the broker has it."""
        await self.service.send(
            self.topics.receipts, record["case_id"].encode(), self.codec.encode("DeliveryReceipt", record)
        )

    async def disclose(self, record: dict[str, Any] | None) -> None:
        """Produce one Disclosure (keyed by case_id) with the event's other sends: the ledger chains it."""
        if record is not None and self.topics.disclosures is not None:
            value = self.codec.encode("Disclosure", record)
            await self.service.send(self.topics.disclosures, record["case_id"].encode(), value)

    async def requeue(self, referral: dict[str, Any], *, attempt: int, not_before: int, last_error: str | None) -> None:
        """The referral to its priority lane's retry topic, keyed by its case like everything else."""
        record = {**referral, "attempt": attempt, "not_before": not_before, "last_error": last_error}
        await self.topics.retries.send(record)

    # --- referrals and retries -----------------------------------------------------------------------------

    async def urgent(self, msg: SourceMessage, *, from_retry: bool = False) -> None:
        """A referral (or retry) of the urgent lane: the other lanes start nothing new until it is handled."""
        async with self.precedence.urgent():
            await self.handle(msg, from_retry=from_retry)

    async def after_urgent(self, msg: SourceMessage, *, from_retry: bool = False) -> None:
        """A referral (or retry) of another lane: handled once no urgent one is in progress (precedence.py)."""
        await self.precedence.wait_turn()
        await self.handle(msg, from_retry=from_retry)

    async def handle(self, msg: SourceMessage, *, from_retry: bool = False) -> None:
        """One delivery attempt for one referral (or parking it, or deferring it while its recipient is paused)."""
        value = msg.value or b""
        referral = self.codec.decode(value, "Referral")
        async with self.locks.hold(referral["referral_id"]):
            try:
                await self._arrived(msg, referral, value, from_retry=from_retry)
            except Exception as exc:
                await self._given_up(referral, exc)
                raise  # run_guarded dead-letters the referral with its original bytes
            finally:
                self._write_routed(referral["referral_id"])

    async def _given_up(self, referral: dict[str, Any], exc: Exception) -> None:
        """The FAILED receipt of a referral given up by an error (e.g. the age limit refusing a retry)."""
        why = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__} in the notifier"
        detail = f"given up and dead-lettered: {why}"
        self._not_delivered(referral["referral_id"], GIVEN_UP)  # still escalates on time (sla.py)
        try:
            await self.emit(receipt(referral, FAILED, channel=self.channel_of(referral["recipient_id"]), detail=detail))
        except Exception:  # noqa: BLE001 - the dead letter still records it; never mask the original error
            log.warning("FAILED receipt not written", referral_id=referral["referral_id"], case_id=referral["case_id"])

    def _set_state(self, rid: str, entry: dict[str, Any], *, routed: bool = False) -> None:
        """Write a `referral_state` entry (in the current event's partition) and index its next SLA due time.

        `routed`: the ROUTED entry of a referral just taken, visible on this worker at once but changelogged
        only at the end of its event (`_write_routed`) if no other entry replaced it meanwhile: a delivered
        referral's event writes its state once (DELIVERED), not twice. A crash before the end replays the
        event, which takes the referral again.
        """
        if routed:
            self.tables.state.data[rid] = entry
            self.routed[rid] = entry
        else:
            entry = keep_mark(self.tables.state.get(rid), entry)  # the delivered-once mark stays (delivered.py)
            self.tables.state[rid] = entry
            self.routed.pop(rid, None)
        self.due.put(rid, next_due(entry, self.tables.escalations.get(rid)), awaiting_ack(entry))

    def _write_routed(self, rid: str) -> None:
        """At the end of the referral's event: changelog its ROUTED entry if it is still the current one."""
        entry = self.routed.pop(rid, None)
        if entry is not None and self.tables.state.get(rid) is entry:
            self.tables.state[rid] = entry

    def _not_delivered(self, rid: str, status: str) -> None:
        """Record that the referral was given up (dead-lettered) or refused; its SLA clock keeps running."""
        updated = not_delivered(self.tables.state.get(rid), status)
        if updated is not None:
            self._set_state(rid, updated)

    async def _track(self, msg: SourceMessage, referral: dict[str, Any], value: bytes) -> None:
        """A referral seen for the first time: its state (the SLA clock runs from routing), then early acks."""
        rid = referral["referral_id"]
        recipient = self.directory.get(referral["recipient_id"])
        target = recipient.escalation_target if recipient else None
        state = routed_state(referral, value, msg.partition, recipient_target=target, traceparent=carried())
        self._set_state(rid, state, routed=True)
        await self._apply_kept(rid, referral["case_id"])

    def _must_wait(self, rid: str) -> bool:
        """An acknowledgement of `rid` waits: no state yet, or (with the lifecycle) not recorded as delivered yet.

        A recipient may answer before the notifier has recorded the delivery it answers (the webhook returned,
        the DELIVERED write has not happened yet); the lifecycle only moves on from DELIVERED.
        """
        entry = self.tables.state.get(rid)
        if entry is None:
            return True
        return self.actions is not None and entry.get("state") is None and entry.get("status") in NOT_DELIVERED

    async def _apply_kept(self, rid: str, case_id: str) -> None:
        """Apply the acknowledgements kept for `rid` once it can take them (this event is of the same case)."""
        if self.tables.early_acks is None or self._must_wait(rid):
            return
        kept = self.tables.early_acks.get(rid)
        if kept is None:
            return
        del self.tables.early_acks[rid]  # this event is of the same case, so of the same partition
        for source in earlyacks.messages(kept):
            try:
                await self._apply_ack(self.codec.decode(source.value or b"", "Acknowledgement"))
            except AcknowledgementError as exc:  # e.g. from another recipient: recorded, never applied
                await self.service.dead_letter(source, exc, case_id=case_id, referral_id=rid)

    def _save_breaker(self, recipient_id: str, breaker: CircuitBreaker, partition: int) -> None:
        """Changelog the recipient's breaker when it changed, keyed by this event's partition (see snapshot_key)."""
        if breaker.unsaved():
            self.tables.breakers[snapshot_key(recipient_id, partition)] = breaker.snapshot(time.time())

    async def _arrived(self, msg: SourceMessage, referral: dict[str, Any], value: bytes, *, from_retry: bool) -> None:
        """`handle` once no other copy of the same referral is being handled on this worker."""
        rid, tables = referral["referral_id"], self.tables
        outcome = on_arrival(
            referral, from_retry=from_retry, delivered=bool(tables.delivered.get(rid)), now_ms=now_ms()
        )
        if not isinstance(outcome, Duplicate) and tables.state.get(rid) is None:
            await self._track(msg, referral, value)
        if isinstance(outcome, Park):
            tables.parked[rid] = {
                "case_id": referral["case_id"],
                "priority": referral["priority"],  # released to its lane's retry topic (release_due_retries)
                "not_before": outcome.not_before,
                "value": base64.b64encode(value).decode(),
                "partition": msg.partition,
                "traceparent": carried(),  # released in its report's trace (and sampling decision), not a new one
            }
            return
        if outcome.unpark:
            if tables.parked.get(rid) is not None:
                del tables.parked[rid]
            tables.released.discard(rid)
        if isinstance(outcome, Duplicate):
            metrics.count("notifier", "duplicate")
            return
        await self._admit(msg, referral, value)

    async def _admit(self, msg: SourceMessage, referral: dict[str, Any], value: bytes) -> None:
        """The safeguards gate, admission by the recipient's breaker, then one delivery attempt and its receipts."""
        recipient_id = referral["recipient_id"]
        refused = self.gate.admit(Facts.from_case(referral["case"]), recipient_id)
        if refused is not None:  # whatever made it: routing, an escalation, a replayed dead letter, a retry
            await self.emit(receipt(referral, REFUSED, channel=self.channel_of(recipient_id), detail=str(refused)))
            metrics.safeguard_refusal("notifier", refused.safeguard_id, "delivery")
            self._not_delivered(referral["referral_id"], REFUSED)  # still escalates on time, through the gate
            error = SafeguardRefusedError(str(refused))
            await self.service.dead_letter(msg, error, case_id=referral["case_id"], referral_id=referral["referral_id"])
            return
        breaker = self.breakers.get(recipient_id)
        now_s = time.time()
        admission = breaker.admit(now_s)
        self._save_breaker(recipient_id, breaker, msg.partition)
        outcome = on_admission(referral, admission, self.policy, now_s=now_s, jitter=random.random())
        if isinstance(outcome, Expire):
            raise DeliveryError(outcome.message, retryable=False)
        if isinstance(outcome, Defer):
            attempt, last_error = referral.get("attempt", 0), referral.get("last_error")
            await self.requeue(referral, attempt=attempt, not_before=outcome.not_before, last_error=last_error)
            await self.emit(receipt(referral, QUEUED, channel=self.channel_of(recipient_id), detail=outcome.detail))
            return
        with stage("notifier deliver", case_id=referral["case_id"], recipient_id=recipient_id):
            try:
                delivery = await self.deliverer.deliver(referral)
            except DeliveryError as exc:
                paused = exc.retryable and breaker.failure(time.time()) == PAUSED
                self._save_breaker(recipient_id, breaker, msg.partition)
                await self._failed(msg, referral, exc, paused=paused)
                return
        if delivery.duplicate:
            metrics.count("notifier", "duplicate")
            return
        breaker_event = breaker.success()
        self._save_breaker(recipient_id, breaker, msg.partition)
        await self._delivered(msg, referral, value, delivery.receipt, breaker_event)
        await self.disclose(delivery.disclosure)

    async def _delivered(
        self,
        msg: SourceMessage,
        referral: dict[str, Any],
        value: bytes,
        delivered: dict[str, Any] | None,
        breaker_event: str | None,
    ) -> None:
        """Record the closed-loop state, emit RESUMED (when the breaker closed) and DELIVERED."""
        assert delivered is not None
        rid, recipient_id = referral["referral_id"], referral["recipient_id"]
        recipient = self.directory.get(recipient_id)
        state = delivered_state(
            referral,
            value,
            msg.partition,
            recipient_target=recipient.escalation_target if recipient else None,
            delivered_at=now_ms(),
            traceparent=carried(),
        )
        if self.actions is not None:  # the lifecycle's fields, and DELIVERED to the reporting agency
            state = await self.actions.delivered(referral, value, state)
        self._set_state(rid, after_delivery(self.tables.state.get(rid), state))  # an ack may have come first
        await self._apply_kept(rid, referral["case_id"])  # answers that overtook the DELIVERED write
        if breaker_event == RESUMED:
            detail = "probe delivered; recipient resumed"
            await self.emit(receipt(referral, RESUMED, channel=delivered["channel"], detail=detail))
        await self.emit(delivered)
        summary.event(
            log,
            "referral delivered",
            case_id=referral["case_id"],
            referral_id=rid,
            recipient=recipient_id,
            channel=delivered["channel"],
            attempt=delivered["attempt"],
            latency_ms=delivered["latency_ms"],
        )
        metrics.delivery(delivered["channel"], "delivered", latency_ms=delivered["latency_ms"])

    async def _failed(self, msg: SourceMessage, referral: dict[str, Any], exc: DeliveryError, *, paused: bool) -> None:
        """Retry later through the retry topic, or give up: FAILED receipt and dead letter."""
        rid, case_id, recipient_id = referral["referral_id"], referral["case_id"], referral["recipient_id"]
        channel = self.channel_of(recipient_id)
        plan = on_failure(
            referral,
            str(exc),
            retryable=exc.retryable,
            paused=paused,
            policy=self.policy,
            reset_seconds=self.breaker_reset_seconds,
            now_ms=now_ms(),
            rand=random.random,
        )
        log.warning(
            "delivery failed",
            case_id=case_id,
            referral_id=rid,
            recipient=recipient_id,
            attempt=referral.get("attempt", 0) + 1,
            error=str(exc),
            retryable=exc.retryable,
        )
        metrics.delivery(channel or "unknown", "failed")
        then = plan.then
        if plan.paused_detail is not None:
            attempt = referral.get("attempt", 0) + 1
            await self.emit(receipt(referral, PAUSED, channel=channel, attempt=attempt, detail=plan.paused_detail))
        if isinstance(then, Expire):
            raise DeliveryError(then.message, retryable=False)  # _given_up records it
        if isinstance(then, Requeue):
            await self.requeue(referral, attempt=then.attempt, not_before=then.not_before, last_error=str(exc))
            await self.emit(receipt(referral, FAILED, channel=channel, attempt=then.attempt, detail=then.detail))
            return
        assert isinstance(then, Abandon)
        await self.emit(receipt(referral, FAILED, channel=channel, attempt=then.attempt, detail=then.detail))
        self._not_delivered(rid, GIVEN_UP)  # still escalates on time (sla.py)
        final = DeliveryError(then.message, retryable=False)
        await self.service.dead_letter(msg, final, case_id=case_id, referral_id=rid)

    # --- acknowledgements ----------------------------------------------------------------------------------

    async def ack(self, msg: SourceMessage) -> None:
        """Apply one acknowledgement to its referral's state, or keep it until the referral arrives."""
        ack = self.codec.decode(msg.value or b"", "Acknowledgement")
        check_recipient(ack, self.topics.recipient_of.get(msg.topic))  # the topic, not the payload, says who
        rid = ack["referral_id"]
        if self._must_wait(rid) and self.tables.early_acks is not None:
            kept = self.tables.early_acks.get(rid)
            held = len(self.tables.early_acks)
            limit = self.early_ack_limit
            self.tables.early_acks[rid] = earlyacks.keep(kept, msg, rid, now_ms=now_ms(), held=held, limit=limit)
            metrics.count("notifier", "ack_early")
            log.info("acknowledgement kept until its referral arrives", referral_id=rid)
            return
        await self._apply_ack(ack)

    async def _apply_ack(self, ack: dict[str, Any]) -> None:
        """An acknowledgement applied to its referral's state, and the receipt that says so."""
        rid = ack["referral_id"]
        if self.actions is not None:  # the lifecycle (config/lifecycle.yaml): services/notifier/actions.py
            entry = await self.actions.apply(ack)
            if entry is not None:  # the SLA index follows the state change (an accepted referral stops its clock)
                self.due.put(rid, next_due(entry, self.tables.escalations.get(rid)), awaiting_ack(entry))
            return
        updated = apply_ack(self.tables.state.get(rid), ack)  # raises for an ack no referral here can take
        if updated is None:
            metrics.count("notifier", "ack_unchanged")
            return
        self._set_state(rid, updated)
        new = updated["status"]
        reason = (ack.get("reason") or "")[:200] or None
        since = updated["delivered_at"] if updated.get("delivered_at") is not None else updated["created_at"]
        record = receipt(
            {"referral_id": rid, "case_id": updated["case_id"], "recipient_id": updated["recipient_id"]},
            new,
            channel=None,
            detail=reason,
            latency_ms=max(0, ack["acknowledged_at"] - since),
        ) | ack_clock(updated, ack["acknowledged_at"])
        await self.emit(record)
        summary.event(log, "referral acknowledged", case_id=updated["case_id"], referral_id=rid, status=new)
        metrics.count("notifier", f"ack_{new.lower()}")

    # --- timers ------------------------------------------------------------------------------------------
    # Faust runs every timer on every worker, so both act only on entries of partitions this worker
    # actively owns right now, and not at all while a rebalance or table recovery is in progress (see
    # ownership.py). A timer never raises: a failed tick is logged and the next one tries again.

    def _owned_entries(self, table: Any) -> list[tuple[str, dict[str, Any], int]]:
        """(key, entry, partition) of a table's entries in partitions this worker owns; none while rebalancing."""
        owned = self.owned()
        if owned is None:
            return []
        found = []
        for key, entry in list(table.items()):
            if entry is not None:
                partition = partition_of(entry, self.service.kafka.topic_partitions)
                if partition in owned:
                    found.append((key, entry, partition))
        return found

    async def release_due_retries(self) -> None:
        """Re-produce parked referrals whose time has come to their lane's retry topic (its agent attempts them)."""
        released = self.tables.released
        try:
            now = now_ms()
            for rid, entry, partition in self._owned_entries(self.tables.parked):
                if entry["not_before"] > now or rid in released or not self.still_owned(partition):
                    continue
                released.add(rid)
                try:
                    value = base64.b64decode(entry["value"])
                    topic = self.topics.retries.of(self._parked_priority(entry, value))
                    with resumed(entry.get("traceparent")):
                        await self.service.send(topic, entry["case_id"].encode(), value)
                except Exception as exc:  # noqa: BLE001 - try again on the next tick
                    released.discard(rid)
                    log.error("could not release a parked retry", referral_id=rid, error=type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a timer must never stop the worker
            log.error("retry release failed", error=type(exc).__name__)

    def _parked_priority(self, entry: dict[str, Any], value: bytes) -> str:
        """A parked retry's priority; an entry parked before entries kept it: its referral's."""
        priority = entry.get("priority")
        return str(priority) if priority is not None else str(self.codec.decode(value, "Referral")["priority"])

    async def check_sla(self) -> None:
        """Escalate referrals not acknowledged within their SLA from routing, delivered or not, once per period.

        Only the referrals whose next period fell due are looked at (the `due` index, rebuilt from
        `referral_state` when this worker's partitions change). The durable mark is written after the
        escalation and its receipt are acknowledged by the broker, so a crash in between repeats the
        escalation (at-least-once) rather than losing it; the escalation referral's deterministic id lets
        the delivery path and the target drop that duplicate.
        """
        try:
            owned = self.owned()
            if owned is None:
                return
            if self.due.stale(owned):
                self._rebuild_due(owned)
            now = now_ms()
            for rid in self.due.pop_due(now):
                try:
                    await self._check_one(rid, now)
                except Exception as exc:  # noqa: BLE001 - the others go on; the index forgets nothing
                    log.error("SLA check of a referral failed", referral_id=rid, error=type(exc).__name__)
                    self.due.invalidate()  # rebuilt from the table on the next tick
            await self._expire_early_acks(owned, now)
        except Exception as exc:  # noqa: BLE001 - a timer must never stop the worker
            log.error("SLA check failed", error=type(exc).__name__)

    def _rebuild_due(self, owned: frozenset[int]) -> None:
        """The SLA index from `referral_state`, for the partitions this worker owns now (start, rebalance)."""
        partitions, escalated = self.service.kafka.topic_partitions, self.tables.escalations
        items = [
            (rid, next_due(st, escalated.get(rid)), waiting)
            for rid, st in list(self.tables.state.items())
            if st is not None and partition_of(st, partitions) in owned and (waiting := awaiting_ack(st))
        ]
        self.due.rebuild(owned, items)
        log.info("SLA index rebuilt", partitions=len(owned), referrals=len(items))

    async def _check_one(self, rid: str, now: int) -> None:
        """Escalate one referral whose next SLA period fell due (if it still awaits), then index its next one."""
        st = self.tables.state.get(rid)
        period = period_to_escalate(st, self.tables.escalations.get(rid), now) if st else None
        if st is None or period is None:
            self.due.put(rid, next_due(st, self.tables.escalations.get(rid)), awaiting_ack(st))
            return
        partition = partition_of(st, self.service.kafka.topic_partitions)
        if not self.still_owned(partition):
            self.due.invalidate()  # a rebalance is under way: rebuilt once it is over
            return
        try:
            with resumed(st.get("traceparent")):  # in its report's trace (and sampling decision), not a new one
                await self._escalate(rid, st, period, now)
            await self._mark_escalated(rid, partition, period)
        except Exception as exc:  # noqa: BLE001 - try again on the next tick; the others go on
            log.error("could not escalate an overdue referral", referral_id=rid, error=type(exc).__name__)
            self.due.put(rid, now, awaiting_ack(st))
            return
        current = self.tables.state.get(rid)  # an acknowledgement may have come meanwhile
        self.due.put(rid, next_due(current, period), awaiting_ack(current))

    async def _expire_early_acks(self, owned: frozenset[int], now: int) -> None:
        """Dead-letter early acknowledgements whose referral never came, and tombstone them in their partition."""
        table = self.tables.early_acks
        if table is None:
            return
        for rid, entry, partition in self._owned_entries(table):
            if partition not in owned or not earlyacks.expired(entry, now, self.early_ack_ttl_seconds):
                continue
            if not self.still_owned(partition):
                return
            error = earlyacks.expiry_error(rid, self.early_ack_ttl_seconds)
            for source in earlyacks.messages(entry):
                await self.service.dead_letter(source, error, referral_id=rid)
            await table.send_changelog(partition, rid, None, value_serializer="raw")  # as `del` would, explicitly
            table.data.pop(rid, None)

    async def _mark_escalated(self, rid: str, partition: int, period: int) -> None:
        """Durably record that `period` of referral `rid` is escalated, in the referral's own partition.

        `escalations[rid] = period` only works inside an agent (Faust takes the changelog partition from
        the current event), so this does what that assignment does, explicitly: the changelog record to
        `partition` — where `referral_state[rid]` lives, so the worker that owns the referral after a
        restart or rebalance recovers the mark with it — awaited until the broker acknowledges it, then
        the local store.
        """
        await self.tables.escalations.send_changelog(partition, rid, period)
        self.tables.escalations.data[rid] = period

    async def _escalate(self, rid: str, st: dict[str, Any], period: int, now: int) -> None:
        """The escalation referral to the first target the safeguards admit (if any) and the ESCALATED receipt.

        The target is checked by the same gate as every referral; a refused target is replaced by the next
        one on its escalation chain, or, when none is permitted, nothing is sent: a REFUSED receipt says so
        and the overdue referral stays listed by `referrals pending`.
        """
        target, why_overdue = st.get("escalation_target"), overdue_detail(st)
        metrics.sla_breach(st["recipient_id"], st["priority"])
        base = {"referral_id": rid, "case_id": st["case_id"], "recipient_id": st["recipient_id"]}
        if target and st.get("referral"):
            original = self.codec.decode(base64.b64decode(st["referral"]), "Referral")
            permitted, refused = self.gate.escalation(Facts.from_case(original["case"]), target)
            for why in refused:
                metrics.safeguard_refusal("notifier", why.safeguard_id, "escalation")
                blocked = {**base, "referral_id": escalation_id(rid, period), "recipient_id": why.recipient_id}
                await self.emit(receipt(blocked, REFUSED, channel=None, attempt=period, detail=f"escalation: {why}"))
            if permitted is not None:
                escalation = escalation_referral(original, permitted, period, now)
                await self.topics.lanes.send(escalation)  # to the lane of its priority
                detail = f"{why_overdue}; escalated to {permitted} (period {period})"
            else:
                detail = (
                    f"{why_overdue}; escalation to {target} refused by the "
                    f"safeguards and no permitted target on its chain (period {period})"
                )
            target = permitted
        else:
            detail = f"{why_overdue}; no escalation target configured"
        await self.emit(receipt(base, ESCALATED, channel=None, attempt=period, detail=detail))
        log.warning(
            "acknowledgement overdue",
            case_id=st["case_id"],
            referral_id=rid,
            status=st["status"],
            escalated_to=target,
            period=period,
        )
