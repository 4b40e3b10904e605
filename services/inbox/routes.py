"""The inbox's routes on the worker's aiohttp server: requests in, `web.Reply` out, actions produced.

Every answer carries no-store caching, a strict Content-Security-Policy (no script at all), no
framing and no referrer (a signed link never leaks to another site); cookies are HttpOnly,
SameSite=Strict, path /inbox and Secure unless INBOX_DEV_INSECURE_COOKIES.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qsl

import faust
from aiohttp import web
from faust.web import Request as FaustRequest
from faust.web import Response, View

from referral_bus import logging as rb_logging
from referral_bus import metrics
from referral_bus.bodies import read_at_most
from referral_bus.codec import Codec
from services.inbox import views
from services.inbox.settings import InboxSettings
from services.inbox.web import Inbox, Reply, Request

# Answers counted on /metrics (referral_bus_events_total{stage="inbox", outcome=...}): refusals an operator watches.
COUNTED = {401: "signin_failed", 429: "signin_blocked", 403: "refused", 413: "form_too_large"}
SendAck = Callable[[str, str, bytes], Awaitable[None]]  # (recipient id, case id, Acknowledgement bytes)
SendDisclosure = Callable[[str, bytes], Awaitable[None]]  # (case id, Disclosure bytes)
Page = Callable[..., Reply | Awaitable[Reply]]  # (request, **path parameters) -> the answer
log = rb_logging.get_logger()

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


URLENCODED = ("", "application/x-www-form-urlencoded")  # our pages' forms; a body of another type: no form


async def to_request(raw: Any, *, max_form_bytes: int) -> Request | Reply:
    """Our `Request` of an aiohttp request, or the refusal of its form (413 too large, 415 multipart, 400 not UTF-8).

    The body is read from the stream, at most `max_form_bytes` + 1 bytes whatever Content-Length says or
    leaves unsaid (a chunked POST), and parsed here: aiohttp's own `post()` would buffer up to 1 MiB first.
    """
    form: dict[str, str] = {}
    if raw.method == "POST":
        too_large = Reply(413, f"form larger than {max_form_bytes} bytes (INBOX_MAX_FORM_BYTES)")
        if (raw.content_length or 0) > max_form_bytes:
            return too_large
        body = await read_at_most(raw.content, max_form_bytes)
        if body is None:
            return too_large
        if raw.content_type == "multipart/form-data":
            return Reply(415, "a form must be sent url-encoded (application/x-www-form-urlencoded)")
        if raw.content_type in URLENCODED:
            try:
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                return Reply(400, "the form must be UTF-8")
    return Request(query=dict(raw.query), form=form, cookies=dict(raw.cookies), client=raw.remote or "")


def to_response(reply: Reply, *, secure: bool) -> web.Response:
    """The aiohttp response of a `Reply`: page or redirect, security headers, cookies."""
    headers = dict(HEADERS)
    if reply.location is not None:
        headers["Location"] = reply.location
    resp = web.Response(status=reply.status, text=reply.body, content_type="text/html", headers=headers)
    for c in reply.cookies:
        if c.max_age == 0:
            resp.del_cookie(c.name, path=views.BASE, secure=secure, httponly=True, samesite="Strict")
        else:
            resp.set_cookie(
                c.name, c.value, max_age=c.max_age, path=views.BASE, secure=secure, httponly=True, samesite="Strict"
            )
    return resp


def register_pages(
    app: faust.App,
    inbox: Inbox,
    codec: Codec,
    send_ack: SendAck,
    settings: InboxSettings,
    send_disclosure: SendDisclosure | None = None,
) -> None:
    """Serve the inbox under /inbox on the worker's web port; a referral's page only once its view is recorded."""
    secure, limit = not settings.dev_insecure_cookies, settings.max_form_bytes

    async def answer(request: FaustRequest, page: Callable[[Request], Reply | Awaitable[Reply]]) -> Response:
        req = await to_request(cast(Any, request), max_form_bytes=limit)
        if isinstance(req, Reply):
            metrics.count("inbox", COUNTED.get(req.status, "form_refused"))
            return cast(Response, to_response(req, secure=secure))
        reply = page(req)
        if not isinstance(reply, Reply):
            reply = await reply
        if reply.disclosure is not None and reply.case_id is not None and send_disclosure is not None:
            try:
                await send_disclosure(reply.case_id, codec.encode("Disclosure", reply.disclosure))
            except Exception as exc:  # noqa: BLE001 - not shown unless recorded: the visitor is told to retry
                log.error("view disclosure not produced", error_type=type(exc).__name__)
                reply = Reply(503, views.problem(inbox.labels(req), "bad_request"))
            else:
                metrics.count("inbox", "viewed")
        ack = reply.ack
        if ack is not None and reply.case_id is not None:
            try:
                await send_ack(ack["recipient_id"], reply.case_id, codec.encode("Acknowledgement", ack))
            except Exception as exc:  # noqa: BLE001 - the visitor is told to retry; nothing was recorded
                log.error("acknowledgement not produced", error_type=type(exc).__name__)
                reply = Reply(503, views.problem(inbox.labels(req), "bad_request"))
            else:
                log.info("inbox action", referral_id=ack["referral_id"], outcome=ack["outcome"])
                metrics.count("inbox", f"action_{str(ack['outcome']).lower()}")
        if reply.status in COUNTED:
            metrics.count("inbox", COUNTED[reply.status])
        return cast(Response, to_response(reply, secure=secure))

    @app.page("/inbox")
    class Root(View):
        async def get(self, request: FaustRequest) -> Response:
            return cast(Response, to_response(Reply(303, location=f"{views.BASE}/"), secure=secure))

    def view(name: str, pages: dict[str, Page]) -> type[View]:
        """A View answering each HTTP method of `pages` with its page; path parameters reach the page by name."""

        def method(page: Page) -> Callable[..., Awaitable[Response]]:
            async def handle(self: View, request: FaustRequest, **params: str) -> Response:
                return await answer(request, lambda req: page(req, **params))

            return handle

        return cast(type[View], type(name, (View,), {verb: method(page) for verb, page in pages.items()}))

    routes: list[tuple[str, str, dict[str, Page]]] = [
        ("/inbox/", "Index", {"get": inbox.index}),
        ("/inbox/signin", "SignIn", {"get": inbox.signin_form, "post": inbox.signin}),
        ("/inbox/signout", "SignOut", {"post": inbox.signout}),
        ("/inbox/lang", "Language", {"get": inbox.language}),
        ("/inbox/referrals/{referral_id}", "Detail", {"get": inbox.detail}),
        ("/inbox/referrals/{referral_id}/act", "Act", {"post": inbox.act}),
        ("/inbox/link/{referral_id}", "Link", {"get": inbox.link}),
    ]
    for path, name, pages in routes:
        app.page(path)(view(name, pages))
