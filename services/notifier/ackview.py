"""`POST /referrals/{id}/ack`: recipients acknowledge a referral over HTTP.

The view only authenticates, bounds and parses the request and produces an Acknowledgement to the
acks topic, keyed by the referral's case_id; the acks agent applies it (see handlers.Notifier.ack).
"""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.web import Request, Response, View

from referral_bus.bodies import read_at_most
from referral_bus.clock import now_ms
from referral_bus.errors import AcknowledgementError
from services.notifier.acks import FINAL, REFERRAL_ID, ack_tokens, authenticate, bearer, parse_body
from services.notifier.handlers import Notifier
from services.notifier.secrets import Secrets

NO_SUCH_REFERRAL = "no such referral for this recipient (send case_id when it was just delivered)"


def register_ack_view(app: faust.App, notifier: Notifier, secrets: Secrets, *, max_body_bytes: int) -> None:
    """Serve `POST /referrals/{id}/ack` on the notifier's web port."""
    tables, limit = notifier.tables, max_body_bytes

    @app.page("/referrals/{referral_id}/ack")
    class AckView(View):
        """`POST /referrals/{id}/ack` with `Authorization: Bearer <recipient's ack token>`.

        401 for a missing or wrong token whatever the referral, so the endpoint says nothing about which
        referrals exist; 202 once the acknowledgement is on the acks topic (the acks agent applies it).
        Another recipient's referral is answered exactly as one that does not exist (404 without
        case_id; 202 with one, and the acks agent dead-letters it), so a recipient learns nothing of
        who else received a case. A referral not known yet is answered the same way: 404 without
        case_id (the recipient retries), 202 with one (kept until it arrives: earlyacks.py).
        Tokens are read on each request, so rotating one needs no restart.
        """

        async def post(self, request: Request, referral_id: str) -> Response:
            """Authenticate, bound and parse the body, produce an Acknowledgement keyed by case_id."""
            raw_request = cast(Any, request)
            tokens = ack_tokens(notifier.directory.recipients, secrets.get)
            recipient_id = authenticate(bearer(raw_request.headers.get("Authorization")), tokens)
            if recipient_id is None:
                return self.error(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
            if (raw_request.content_length or 0) > limit:
                return self.error(413, f"body larger than {limit} bytes")
            raw = await read_at_most(raw_request.content, limit)
            if raw is None:
                return self.error(413, f"body larger than {limit} bytes")
            if not REFERRAL_ID.match(referral_id):
                return self.error(404, NO_SUCH_REFERRAL)
            try:
                parsed = parse_body(raw)
            except AcknowledgementError as exc:
                return self.error(400, str(exc))
            current = tables.state.get(referral_id)
            if current is not None and current["recipient_id"] != recipient_id:
                current = None  # another recipient's: answered exactly as a referral that does not exist
            case_id = current["case_id"] if current is not None else parsed.case_id
            if case_id is None:
                return self.error(404, NO_SUCH_REFERRAL)
            if current is not None and current["status"] in FINAL:
                return self.json({"status": "unchanged", "referral_id": referral_id}, status=200)
            ack = {
                "referral_id": referral_id,
                "recipient_id": recipient_id,
                "outcome": parsed.outcome,
                "reason": parsed.reason,
                "acknowledged_at": now_ms(),
            }
            value = notifier.codec.encode("Acknowledgement", ack)
            await notifier.service.send(notifier.topics.acks, case_id.encode(), value)
            return self.json({"status": "accepted", "referral_id": referral_id}, status=202)
