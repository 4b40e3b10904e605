"""The referral lifecycle as data (config/lifecycle.yaml): states, actions, transitions, codes, transfers.

`Lifecycle.check` is the one place a recipient action is judged against the current state; the notifier
applies it (services/notifier/lifecycle.py), the inbox asks `allowed_actions` which buttons to show.
Pure: no Kafka, no clock. docs/lifecycle.md describes the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from referral_bus.errors import AcknowledgementError, IllegalTransitionError, RulesError
from referral_domain.yamlfile import YamlDocument

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
StateName = Annotated[str, Field(pattern=r"^[A-Z][A-Z_]*$", max_length=32)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Model):
    """An English and a Vietnamese label."""

    en: Annotated[str, Field(min_length=1)]
    vi: Annotated[str, Field(min_length=1)]


class StateSpec(Label):
    """One lifecycle state."""

    receipt: StateName = Field(description="The DeliveryReceipt status this state is reported as.")
    active: bool = Field(description="The referral still stands for its kind (mandatory-kind check).")
    sla: bool = Field(default=False, description="The acknowledgement SLA keeps running in this state.")


class ActionSpec(Label):
    """One recipient action (an Acknowledgement outcome)."""

    to: StateName
    needs: Literal["reason_code", "outcome_code", "transfer_to"] | None = None


class TransferRule(_Model):
    """A permitted transfer: by kind, or by recipient id."""

    from_kind: str | None = None
    to_kind: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class Reroute(_Model):
    """Where routing looks for the next recipient of a declined case, in order."""

    on_decline: list[Literal["national_same_kind", "escalation_target"]] = Field(min_length=1)


class LifecycleFile(_Model):
    """config/lifecycle.yaml (JSON Schema: config/schema/lifecycle.schema.json)."""

    model_config = ConfigDict(title="referral-bus lifecycle", extra="forbid", frozen=True, populate_by_name=True)

    version: int = 1
    states: dict[StateName, StateSpec] = Field(min_length=1)
    actions: dict[StateName, ActionSpec] = Field(min_length=1)
    transitions: dict[StateName, list[StateName]]
    legacy_states: dict[StateName, StateName] = {}
    decline_reasons: dict[Code, Label] = Field(min_length=1)
    legacy_decline_reason: Code
    completion_outcomes: dict[Code, Label] = Field(min_length=1)
    transfers: list[TransferRule] = []
    reroute: Reroute
    duty_desk: str = Field(min_length=1, description="Recipient id alerted when a mandatory kind is left uncovered.")


@dataclass(frozen=True)
class Verdict:
    """What an action does to a state: the new state, or `unchanged` (a repeat of the action that led here)."""

    state: str
    unchanged: bool = False


@dataclass(frozen=True)
class Action:
    """A recipient action with the fields the lifecycle looks at (no personal data)."""

    outcome: str
    reason_code: str | None = None
    outcome_code: str | None = None
    transfer_to: str | None = None


class Lifecycle:
    """The loaded lifecycle."""

    def __init__(self, spec: LifecycleFile) -> None:
        self.spec = spec

    @property
    def states(self) -> list[str]:
        """Every state name."""
        return list(self.spec.states)

    @property
    def actions(self) -> list[str]:
        """Every action name (Acknowledgement outcomes the lifecycle knows)."""
        return list(self.spec.actions)

    def normalise(self, state: str) -> str:
        """A stored or legacy state name (ACKNOWLEDGED, REJECTED, REVOKED) as a lifecycle state."""
        return self.spec.legacy_states.get(state, state)

    def receipt_status(self, state: str) -> str:
        """The DeliveryReceipt status of a state."""
        return self.spec.states[self.normalise(state)].receipt

    def is_active(self, state: str) -> bool:
        """True while the referral still stands for its kind."""
        return self.spec.states[self.normalise(state)].active

    def sla_running(self, state: str) -> bool:
        """True while the acknowledgement SLA keeps running."""
        spec = self.spec.states.get(self.normalise(state))
        return bool(spec and spec.sla)

    def is_final(self, state: str) -> bool:
        """True when no action changes the state any more."""
        return not self.spec.transitions.get(self.normalise(state))

    def target(self, outcome: str) -> str:
        """The state an action leads to; AcknowledgementError for an action the lifecycle does not know."""
        spec = self.spec.actions.get(outcome)
        if spec is None:
            raise AcknowledgementError(f"outcome must be one of {', '.join(self.spec.actions)}", field="outcome")
        return spec.to

    def allowed_actions(self, state: str) -> list[str]:
        """The actions that change `state` (what the inbox offers), in file order, without legacy aliases."""
        to = set(self.spec.transitions.get(self.normalise(state), []))
        legacy = set(self.spec.legacy_states)
        return [a for a, s in self.spec.actions.items() if s.to in to and a not in legacy]

    def check(self, state: str, action: Action) -> Verdict:
        """Judge `action` on a referral in `state`: the new state, unchanged, or an error (never applied).

        IllegalTransitionError when the transitions do not allow it; AcknowledgementError when the action
        lacks a field it needs or carries a code not in the lists.
        """
        current = self.normalise(state)
        if current not in self.spec.states:
            raise IllegalTransitionError(f"the referral is in state {state}, which config/lifecycle.yaml does not know")
        new = self.target(action.outcome)
        if new == current:
            return Verdict(current, unchanged=True)
        if new not in self.spec.transitions.get(current, []):
            allowed = ", ".join(self.allowed_actions(current)) or "none (final state)"
            raise IllegalTransitionError(
                f"{action.outcome} is not allowed on a referral in state {current} "
                f"(config/lifecycle.yaml transitions; allowed: {allowed})",
                field="outcome",
            )
        self._check_fields(action)
        return Verdict(new)

    def _check_fields(self, action: Action) -> None:
        needs = self.spec.actions[action.outcome].needs
        if needs and not getattr(action, needs):
            raise AcknowledgementError(f"{action.outcome} needs {needs}", field=needs)
        if action.reason_code is not None and action.reason_code not in self.spec.decline_reasons:
            raise AcknowledgementError(
                f"reason_code must be one of {', '.join(self.spec.decline_reasons)}", field="reason_code"
            )
        if action.outcome_code is not None and action.outcome_code not in self.spec.completion_outcomes:
            raise AcknowledgementError(
                f"outcome_code must be one of {', '.join(self.spec.completion_outcomes)}", field="outcome_code"
            )

    def transfer_allowed(self, from_id: str, from_kind: str, to_id: str, to_kind: str) -> bool:
        """True when config/lifecycle.yaml `transfers` lets `from_id` hand a referral to `to_id`."""
        if from_id == to_id:
            return False
        for t in self.spec.transfers:
            by_kind = t.from_kind is not None and t.from_kind == from_kind and t.to_kind == to_kind
            by_id = t.from_ is not None and t.from_ == from_id and t.to == to_id
            if by_kind or by_id:
                return True
        return False


def _problems(spec: LifecycleFile, path: Path) -> list[str]:
    states = set(spec.states)
    out = []
    for a, s in spec.actions.items():
        if s.to not in states:
            out.append(f"{path}: action {a}: to: unknown state {s.to}")
    for frm, tos in spec.transitions.items():
        out += [f"{path}: transitions: unknown state {x}" for x in [frm, *tos] if x not in states]
    missing = sorted(states - set(spec.transitions))
    out += [f"{path}: transitions: state {s} has no entry (write [] for a final state)" for s in missing]
    out += [f"{path}: legacy_states: unknown state {s}" for s in spec.legacy_states.values() if s not in states]
    if spec.legacy_decline_reason not in spec.decline_reasons:
        out.append(f"{path}: legacy_decline_reason: not one of decline_reasons")
    return out


def load_lifecycle(path: Path) -> Lifecycle:
    """Load and validate config/lifecycle.yaml; RulesError names every problem with file and line."""
    doc = YamlDocument(path)
    try:
        spec = LifecycleFile.model_validate(doc.data)
    except ValidationError as exc:
        raise RulesError(doc.errors(exc, (), "lifecycle")) from None
    problems = _problems(spec, path)
    if problems:
        raise RulesError(problems)
    return Lifecycle(spec)


def from_settings() -> Lifecycle:
    """The lifecycle named by REFERRAL_BUS_LIFECYCLE_PATH (default config/lifecycle.yaml)."""
    from referral_bus.settings import LifecycleSettings

    return load_lifecycle(LifecycleSettings().lifecycle_path)
