"""The JSON document a recipient receives (webhook body, e-mail attachment), version 1."""

from __future__ import annotations

from typing import Any, NoReturn

from referral_domain.disclosure import canonical
from services.notifier.redaction import Profile, redact

DOCUMENT_VERSION = "referral-bus.referral/v1"


class Document(dict[str, Any]):
    """A recipient's document; its canonical JSON bytes are computed once (the channel and the disclosure share them).

    Never changed after it is made: a channel that needs another form builds a new dict (the inbox's sealed copy).
    """

    __slots__ = ("_body",)

    def body(self) -> bytes:
        """Canonical JSON bytes of this document, computed on first use."""
        try:
            return self._body
        except AttributeError:
            self._body: bytes = canonical(self)
            return self._body

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a Document is never changed once made (its bytes are computed once): build a new dict")

    __setitem__ = __delitem__ = update = pop = popitem = setdefault = clear = __ior__ = _read_only


def document(referral: dict[str, Any], profile: Profile) -> Document:
    """The referral as the recipient sees it: routing facts plus the case reduced to its profile.

    `link` (ids and codes only) says the case's report is a linked report and whether it updates a
    referral the recipient already holds; null for a case's first report.
    """
    return Document(
        document=DOCUMENT_VERSION,
        referral_id=referral["referral_id"],
        case_id=referral["case_id"],
        recipient_id=referral["recipient_id"],
        priority=referral["priority"],
        ack_sla_seconds=referral["ack_sla_seconds"],
        preservation_request=referral["preservation_request"],
        reason=referral["reason"],
        rule_ids=referral["rule_ids"],
        created_at=referral["created_at"],
        data_profile=profile.name,
        case=redact(referral["case"], profile),
        link=referral.get("link"),
    )


def body(doc: dict[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, UTF-8): what the HMAC signature covers (a Document's computed once)."""
    return doc.body() if isinstance(doc, Document) else canonical(doc)
