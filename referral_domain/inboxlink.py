"""Signed, expiring links to one referral in the inbox: written by the notifier into e-mails, checked by the inbox.

A link says "the bus sent referral R to recipient P, valid until E"; it never signs anyone in (the
recipient still signs in as P), so a forwarded e-mail opens nothing. HMAC-SHA256 over the three
values with the secret `inbox-link-key`; compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote, urlencode

LINK_PATH = "/link/"  # under the inbox's base address


def _mac(key: str, referral_id: str, recipient_id: str, expires_s: int) -> str:
    msg = f"inbox-link\n{referral_id}\n{recipient_id}\n{expires_s}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def make_link(base_url: str, key: str, referral_id: str, recipient_id: str, expires_s: int) -> str:
    """The inbox address of one referral for one recipient, valid until `expires_s` (epoch seconds)."""
    query = urlencode({"r": recipient_id, "e": expires_s, "s": _mac(key, referral_id, recipient_id, expires_s)})
    return f"{base_url.rstrip('/')}{LINK_PATH}{quote(referral_id, safe='')}?{query}"


@dataclass(frozen=True)
class LinkCheck:
    """What a presented link says, once checked: whose referral it is, or why it is refused."""

    recipient_id: str | None
    problem: str | None


def check_link(key: str, referral_id: str, recipient_id: str, expires: str, signature: str, now_s: int) -> LinkCheck:
    """The link's recipient when its signature is right and it has not expired; otherwise why not."""
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:  # "¹".isdigit() is True
        return LinkCheck(None, "malformed link")
    good = _mac(key, referral_id, recipient_id, int(expires))
    if not key or not hmac.compare_digest(good.encode(), signature.encode("utf-8", "replace")):
        return LinkCheck(None, "this link was not issued by the bus or was altered")
    if int(expires) < now_s:
        return LinkCheck(None, "this link has expired: sign in and open the referral from the list")
    return LinkCheck(recipient_id, None)
