"""The inbox's pages as pure functions of a request: sign-in, the list, one referral, its actions, links.

No aiohttp, Kafka or Faust here: app.py turns an aiohttp request into `Request`, and a `Reply` back into
a response (plus, for an action, the Acknowledgement to produce). Identity comes only from the signed
session cookie; a referral that is not the signed-in recipient's is answered 403 exactly like one that
does not exist, so the inbox is no oracle of which referrals exist.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from referral_bus.packed import unpack
from referral_domain import disclosure
from referral_domain.inboxlink import check_link
from referral_domain.lifecycle import Lifecycle
from services.inbox import views
from services.inbox.actions import acknowledgement, parse_action
from services.inbox.labels import Labels
from services.inbox.model import PACKED, ordered
from services.inbox.passwords import verify_password
from services.inbox.ratelimit import FailedSignins
from services.inbox.sessions import PRESESSION_COOKIE, SESSION_COOKIE, Session, Sessions, new_presession

LANG_COOKIE = "inbox_lang"
SIGNIN = f"{views.BASE}/signin"
_NEXT = re.compile(r"^/inbox(/|/referrals/[A-Za-z0-9._:%-]{1,400})?$")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


OpenDoc = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Revoke = Callable[[Session], Awaitable[None]]


class Store(Protocol):
    """The read model: entries by referral id."""

    def get(self, referral_id: str) -> Mapping[str, Any] | None:
        """One entry, or None."""
        ...

    def values(self) -> Iterable[Mapping[str, Any]]:
        """Every entry this worker holds."""
        ...


@dataclass(frozen=True)
class Request:
    """What a page needs of an HTTP request."""

    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    client: str = ""


@dataclass(frozen=True)
class Cookie:
    """A cookie to set (`max_age` None: for the session's life) or, with `max_age` 0, to delete."""

    name: str
    value: str
    max_age: int | None = None

    @classmethod
    def deleted(cls, name: str) -> Cookie:
        """The instruction to delete cookie `name` from the browser."""
        return cls(name, "", 0)


@dataclass
class Reply:
    """A page, a redirect or an error, with cookies to set and an acknowledgement to produce (key: case id)."""

    status: int
    body: str = ""
    location: str | None = None
    cookies: list[Cookie] = field(default_factory=list)
    ack: dict[str, Any] | None = None
    case_id: str | None = None
    disclosure: dict[str, Any] | None = None  # a Disclosure to record before the page is sent (a view)


def safe_next(value: str | None) -> str:
    """A redirect target inside the inbox (never another site), else the list."""
    return value if value and _NEXT.match(value) else f"{views.BASE}/"


@dataclass
class Inbox:
    """The pages; `now_ms` and `monotonic` are the clocks (injected for tests)."""

    store: Store
    sessions: Sessions
    password_hash: Callable[[str], str | None]  # recipient id → stored hash (secret inbox-password-<id>)
    link_key: Callable[[], str | None]
    lifecycle: Lifecycle
    limiter: FailedSignins
    transfer_targets: Callable[[str], list[str]]
    now_ms: Callable[[], int]
    monotonic: Callable[[], float]
    profile_version: str = ""  # content hash of the profiles file, recorded in each view's Disclosure
    open_doc: OpenDoc | None = None  # opens a sealed document's personal fields to show it (per-case sealing)
    revoked: Callable[[str], bool] = lambda session_id: False  # a signed-out session (signouts.py)
    revoke: Revoke | None = None  # records a sign-out server-side, so a copied cookie is refused too

    def labels(self, req: Request) -> Labels:
        """The labels in the language the visitor chose (cookie), Vietnamese by default."""
        return Labels(req.cookies.get(LANG_COOKIE, ""))

    def session(self, req: Request) -> Session | None:
        """The signed-in recipient, if the session cookie is valid and its session was not signed out."""
        session = self.sessions.read(req.cookies.get(SESSION_COOKIE), self.now_ms() // 1000)
        return None if session is None or self.revoked(session.session_id) else session

    def _problem(self, req: Request, status: int, key: str, session: Session | None = None) -> Reply:
        csrf = self.sessions.csrf_token(session.session_id) if session else None
        t = self.labels(req)
        return Reply(status, views.problem(t, key, recipient_id=session.recipient_id if session else None, csrf=csrf))

    # --- signing in and out -----------------------------------------------------------------------------

    def signin_form(self, req: Request, *, status: int = 200, error: str | None = None) -> Reply:
        """The sign-in form, its CSRF token bound to a pre-session cookie."""
        pre = req.cookies.get(PRESESSION_COOKIE) or new_presession()
        body = views.signin(
            self.labels(req),
            self.sessions.csrf_token("pre:" + pre),
            error=error,
            next_path=safe_next(req.query.get("next") or req.form.get("next")),
        )
        return Reply(status, body, cookies=[Cookie(PRESESSION_COOKIE, pre)])

    async def signin(self, req: Request) -> Reply:
        """Check the CSRF token, the rate limit and the password; on success a new session cookie."""
        pre = req.cookies.get(PRESESSION_COOKIE)
        if not self.sessions.check_csrf("pre:" + pre if pre else None, req.form.get("csrf")):
            return self._problem(req, 403, "csrf_refused")
        rid = req.form.get("recipient_id", "").strip()
        keys = [f"id:{rid}", f"ip:{req.client}"]
        if self.limiter.blocked(keys, self.monotonic()):
            return self.signin_form(req, status=429, error="signin_blocked")
        stored = self.password_hash(rid) if _ID.match(rid) else None
        ok = await asyncio.to_thread(verify_password, req.form.get("password", ""), stored)
        if not ok:
            self.limiter.failed(keys, self.monotonic())
            return self.signin_form(req, status=401, error="signin_failed")
        self.limiter.succeeded(keys[0])
        cookie, _ = self.sessions.issue(rid, self.now_ms() // 1000)
        return Reply(
            303,
            location=safe_next(req.form.get("next")),
            cookies=[Cookie(SESSION_COOKIE, cookie), Cookie.deleted(PRESESSION_COOKIE)],
        )

    async def signout(self, req: Request) -> Reply:
        """End the session: refused from now on server-side (a copied cookie too), the cookie deleted; needs CSRF."""
        session = self.session(req)
        if session is None or not self.sessions.check_csrf(session.session_id, req.form.get("csrf")):
            return self._problem(req, 403, "csrf_refused")
        if self.revoke is not None:
            try:
                await self.revoke(session)
            except Exception:  # noqa: BLE001 - not recorded: the visitor is told to retry (this worker refuses it already)
                return self._problem(req, 503, "bad_request")
        return Reply(303, location=SIGNIN, cookies=[Cookie.deleted(SESSION_COOKIE)])

    def language(self, req: Request) -> Reply:
        """Switch the language (cookie) and go back to the page the visitor was on."""
        lang = Labels(req.query.get("set", "")).lang
        return Reply(303, location=safe_next(req.query.get("next")), cookies=[Cookie(LANG_COOKIE, lang, 365 * 86400)])

    # --- pages ------------------------------------------------------------------------------------------

    def index(self, req: Request) -> Reply:
        """The signed-in recipient's referrals, most urgent first."""
        session = self.session(req)
        if session is None:
            return Reply(303, location=SIGNIN)
        entries = ordered(self.store.values(), session.recipient_id)
        csrf = self.sessions.csrf_token(session.session_id)
        t = self.labels(req)
        return Reply(200, views.listing(t, self.lifecycle, entries, session.recipient_id, csrf, self.now_ms()))

    def _own(self, session: Session, referral_id: str) -> Mapping[str, Any] | None:
        entry = self.store.get(referral_id) if _ID.match(referral_id) else None
        if entry is None or entry["recipient_id"] != session.recipient_id:
            return None
        opened: Mapping[str, Any] = unpack(entry, PACKED)  # its document and history as objects (text in the table)
        return opened

    async def detail(self, req: Request, referral_id: str) -> Reply:
        """One of the recipient's referrals; 403 for any other id, existing or not."""
        session = self.session(req)
        if session is None:
            return Reply(303, location=f"{SIGNIN}?next={views.referral_path(referral_id)}")
        entry = self._own(session, referral_id)
        if entry is None:
            return self._problem(req, 403, "forbidden", session)
        if self.open_doc is not None:  # opened for this page only; the read model keeps it sealed
            entry = {**entry, "doc": await self.open_doc(entry["doc"])}
        t = self.labels(req)
        message = "sent" if req.query.get("msg") == "sent" else None
        actions = self.lifecycle.allowed_actions(entry["state"])
        targets = self.transfer_targets(session.recipient_id)
        csrf = self.sessions.csrf_token(session.session_id)
        page = views.detail(t, entry, actions, csrf, self.lifecycle, targets, message=message)
        return Reply(200, page, case_id=entry["case_id"], disclosure=self.viewed(entry, session))

    def viewed(self, entry: Mapping[str, Any], session: Session) -> dict[str, Any]:
        """The Disclosure of one view of a referral's page: each view its own record (session and time)."""
        doc, at = entry["doc"], self.now_ms()
        return disclosure.record(
            doc,
            channel="inbox",
            purpose="view",
            data_profile=str(doc.get("data_profile") or "unknown"),
            profile_version=self.profile_version or "unknown",
            document=doc,
            payload=disclosure.canonical(doc),  # the opened document: the digest of the notifier's delivery of it
            at=at,
            occurrence=f"{session.session_id}:{at}",
        )

    def act(self, req: Request, referral_id: str) -> Reply:
        """Accept, decline, progress, transfer or complete: an Acknowledgement as the session's recipient."""
        session = self.session(req)
        if session is None or not self.sessions.check_csrf(session.session_id, req.form.get("csrf")):
            return self._problem(req, 403, "csrf_refused", session)
        entry = self._own(session, referral_id)
        if entry is None:
            return self._problem(req, 403, "forbidden", session)
        chosen = parse_action(req.form, entry["state"], self.lifecycle, self.transfer_targets(session.recipient_id))
        if isinstance(chosen, str):
            return self._problem(req, 409 if chosen == "not_allowed" else 400, chosen, session)
        ack = acknowledgement(chosen, entry["referral_id"], session.recipient_id, self.now_ms())
        location = f"{views.referral_path(entry['referral_id'])}?msg=sent"
        return Reply(303, location=location, ack=ack, case_id=entry["case_id"])

    def link(self, req: Request, referral_id: str) -> Reply:
        """A signed e-mail link: checked, then the referral (signed in as its recipient) or the sign-in form."""
        q = req.query
        checked = check_link(
            self.link_key() or "", referral_id, q.get("r", ""), q.get("e", ""), q.get("s", ""), self.now_ms() // 1000
        )
        if checked.recipient_id is None:
            return self._problem(req, 403, "link_refused")
        target = views.referral_path(referral_id)
        session = self.session(req)
        if session is not None and session.recipient_id == checked.recipient_id:
            return Reply(303, location=target)
        return Reply(303, location=f"{SIGNIN}?next={target}")
