"""Exceptions of our own; each message says what to do, never a PII value."""

from __future__ import annotations


class ReferralBusError(Exception):
    """Base of every error raised by referral-bus."""


class ConfigurationError(ReferralBusError):
    """A setting is missing, inconsistent or points at something that does not exist."""


class RejectedMessage(ReferralBusError):
    """A message that must go to the dead-letter topic, with a stable reason code."""

    reason: str = "rejected"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        # Set by a handler that already knows them, so the dead letter can be found by case.
        self.case_id: str | None = None
        self.referral_id: str | None = None


class UndecodableError(RejectedMessage):
    """The bytes are not an Avro single-object (or Confluent) encoded record."""

    reason = "undecodable"


class UnknownSchemaError(RejectedMessage):
    """The writer's schema fingerprint is not one we know."""

    reason = "unknown_schema"


class RegistryUnavailableError(RejectedMessage):
    """The schema registry did not answer (after bounded retries) or failed; replay once it is back."""

    reason = "registry_unavailable"


class RegistryRejectedError(RejectedMessage):
    """The schema registry refused to register one of our schemas (e.g. the subject's compatibility rule)."""

    reason = "registry_rejected"


class WriterSchemaRefusedError(RejectedMessage):
    """A registry writer schema that is unsafe or unusable (recursive, too large, types our reader cannot use)."""

    reason = "writer_schema_refused"


class WrongSchemaError(RejectedMessage):
    """The record was written with a schema of another record type."""

    reason = "wrong_schema"


class InvalidFieldError(RejectedMessage):
    """A field is missing or has a value that breaks the contract."""

    reason = "invalid_field"


class OversizedMessageError(RejectedMessage):
    """The message is larger than the configured size limit."""

    reason = "oversized"


class ProcessingError(RejectedMessage):
    """An unexpected failure while handling one event (a bug or an outage)."""

    reason = "processing_error"


class OutputNotWrittenError(RejectedMessage):
    """The event was handled but the broker did not take its output; replayable from the dead letter."""

    reason = "output_not_written"


class RulesError(ReferralBusError):
    """A recipients directory or rules file is invalid; lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class SafeguardRefusedError(RejectedMessage):
    """The safeguards gate refused a referral (recipient, profile or channel not allowed for this case)."""

    reason = "safeguard_refused"


class AcknowledgementError(RejectedMessage):
    """An acknowledgement that cannot be applied (bad body, unknown referral, wrong recipient)."""

    reason = "invalid_ack"


class RecipientMismatchError(AcknowledgementError):
    """An acknowledgement on a recipient's own ack topic that names another recipient."""

    reason = "recipient_mismatch"


class IllegalTransitionError(AcknowledgementError):
    """A recipient action the lifecycle does not allow from the referral's state (config/lifecycle.yaml)."""

    reason = "illegal_transition"
