"""Acknowledgements racing their referral, over every order of events, with the pure pieces the handlers use.

The model does what handlers.Notifier does with one referral: an acknowledgement with no state yet is kept
(earlyacks.keep); the referral's arrival writes routed_state and applies what was kept; a delivery goes
through after_delivery, a give-up or refusal through not_delivered; an acknowledgement with a state is
applied (acks.apply_ack). Whatever the order, no acknowledgement is lost and an acknowledged referral
is never due for escalation again.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from referral_bus.errors import AcknowledgementError
from referral_bus.message import SourceMessage
from services.notifier.acks import apply_ack
from services.notifier.earlyacks import keep, messages
from services.notifier.sla import (
    GIVEN_UP,
    REFUSED,
    after_delivery,
    delivered_state,
    next_due,
    not_delivered,
    routed_state,
)
from tests.support.referrals import sla_referral

REFERRAL = sla_referral(escalation_target="duty")
EVENTS = st.sampled_from(["ACCEPTED", "COMPLETED", "arrive", "deliver", "give_up", "refuse"])


class Model:
    """One referral's state on one worker, as the handlers keep it."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.early: dict[str, Any] | None = None
        self.acks: dict[int, str] = {}  # offset → outcome of each acknowledgement sent and not dead-lettered
        self.dead_lettered: dict[int, str] = {}  # refused with a reason, original kept (replayable): not lost

    def ack(self, outcome: str, offset: int) -> None:
        self.acks[offset] = outcome
        if self.state is None:
            msg = SourceMessage("acks", 0, offset, b"case-1", outcome.encode())
            try:
                self.early = keep(self.early, msg, "r1", now_ms=offset, held=0, limit=10)
            except AcknowledgementError:  # more kept for one referral than earlyacks allows
                self.dead_lettered[offset] = self.acks.pop(offset)
        else:
            self._apply(outcome, offset)

    def _apply(self, outcome: str, at: int) -> None:
        ack = {"referral_id": "r1", "recipient_id": "desk", "outcome": outcome, "acknowledged_at": at}
        updated = apply_ack(self.state, ack)
        if updated is not None:
            self.state = updated

    def arrive(self) -> None:
        if self.state is not None:
            return  # a retry or a replay: the state is there already
        self.state = routed_state(REFERRAL, b"v", 0, recipient_target=None)
        kept, self.early = self.early, None
        for m in messages(kept) if kept else []:
            self._apply((m.value or b"").decode(), m.offset)

    def deliver(self) -> None:
        if self.state is None:
            return
        self.state = after_delivery(
            self.state, delivered_state(REFERRAL, b"v", 0, recipient_target=None, delivered_at=5_000)
        )

    def settle(self, status: str) -> None:
        updated = not_delivered(self.state, status)
        if updated is not None:
            self.state = updated


@given(st.lists(EVENTS, max_size=12))
def test_no_acknowledgement_is_lost_whatever_the_order(events: list[str]) -> None:
    model = Model()
    for offset, event in enumerate([*events, "arrive"]):  # the referral comes at the latest at the end
        if event in ("ACCEPTED", "COMPLETED"):
            model.ack(event, offset)
        elif event == "arrive":
            model.arrive()
        elif event == "deliver":
            model.deliver()
        else:
            model.settle(GIVEN_UP if event == "give_up" else REFUSED)
    assert model.state is not None and model.early is None  # everything kept was applied
    outcomes = set(model.acks.values())
    status = model.state["status"]
    if "COMPLETED" in outcomes:
        assert status == "COMPLETED"
    elif "ACCEPTED" in outcomes:
        assert status == "ACKNOWLEDGED"
    else:
        assert status in {"ROUTED", "DELIVERED", GIVEN_UP, REFUSED}
    if outcomes:  # acknowledged: never escalated again, whatever came after
        assert next_due(model.state, None) is None
    else:
        assert next_due(model.state, None) == 1_000 + 60_000  # due one SLA after routing
