"""The inbox's pages as pure functions: sign-in, CSRF, ownership (403 without an oracle), actions, links."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from referral_domain.inboxlink import make_link
from services.inbox.sessions import PRESESSION_COOKIE, SESSION_COOKIE
from services.inbox.web import Cookie, Inbox, Reply, Request, safe_next
from tests.support.inbox import LINK_KEY, NOW_MS, PASSWORDS, Store, page_csrf, signed_in_cookies

POLICE, CHILD = "vn-police-ha-noi", "vn-child-protection-ha-noi"


async def test_sign_in_needs_the_forms_csrf_token(inbox: Inbox) -> None:
    form = inbox.signin_form(Request())
    pre = form.cookies[0].value
    creds = {"recipient_id": POLICE, "password": PASSWORDS[POLICE]}
    assert (await inbox.signin(Request(form=creds, cookies={PRESESSION_COOKIE: pre}))).status == 403
    assert (await inbox.signin(Request(form={**creds, "csrf": page_csrf(form.body)}))).status == 403
    other = inbox.signin_form(Request())
    stolen = Request(form={**creds, "csrf": page_csrf(other.body)}, cookies={PRESESSION_COOKIE: pre})
    assert (await inbox.signin(stolen)).status == 403


async def test_wrong_passwords_are_counted_then_refused(inbox: Inbox) -> None:
    form = inbox.signin_form(Request())
    pre, csrf = form.cookies[0].value, page_csrf(form.body)
    wrong = Request(
        form={"csrf": csrf, "recipient_id": POLICE, "password": "no"},
        cookies={PRESESSION_COOKIE: pre},
        client="10.0.0.1",
    )
    for _ in range(3):
        assert (await inbox.signin(wrong)).status == 401
    right = Request(
        form={"csrf": csrf, "recipient_id": POLICE, "password": PASSWORDS[POLICE]},
        cookies={PRESESSION_COOKIE: pre},
        client="10.0.0.2",
    )
    blocked = await inbox.signin(right)
    assert blocked.status == 429 and SESSION_COOKIE not in {c.name for c in blocked.cookies}


async def test_unknown_recipients_and_non_inbox_users_cannot_sign_in(inbox: Inbox) -> None:
    form = inbox.signin_form(Request())
    pre, csrf = form.cookies[0].value, page_csrf(form.body)
    for i, rid in enumerate(("vn-police-cybercrime", "nobody", "../../etc/passwd", "")):
        form_data = {"csrf": csrf, "recipient_id": rid, "password": "x"}
        req = Request(form=form_data, cookies={PRESESSION_COOKIE: pre}, client=f"10.0.0.{i}")
        assert (await inbox.signin(req)).status == 401


async def test_the_list_shows_only_ones_own_referrals_most_urgent_first(inbox: Inbox) -> None:
    assert inbox.index(Request()).location == "/inbox/signin"
    cookies, _ = await signed_in_cookies(inbox, POLICE)
    body = inbox.index(Request(cookies=cookies)).body
    assert re.findall(r'data-id="([^"]+)"', body) == ["ref-p2", "ref-p1"]


async def test_another_recipients_referral_is_403_like_one_that_does_not_exist(inbox: Inbox) -> None:
    cookies, _ = await signed_in_cookies(inbox, CHILD)
    theirs = await inbox.detail(Request(cookies=cookies), "ref-p1")
    missing = await inbox.detail(Request(cookies=cookies), "ref-nope")
    hostile = await inbox.detail(Request(cookies=cookies), "<script>")
    assert theirs.status == missing.status == hostile.status == 403
    assert theirs.body == missing.body == hostile.body
    assert (await inbox.detail(Request(cookies=cookies), "ref-c1")).status == 200


async def test_an_action_without_or_with_a_foreign_csrf_token_is_refused(inbox: Inbox) -> None:
    cookies, csrf = await signed_in_cookies(inbox, POLICE)
    _, other_csrf = await signed_in_cookies(inbox, CHILD)
    for form in (
        {"action": "ACCEPTED"},
        {"action": "ACCEPTED", "csrf": other_csrf},
        {"action": "ACCEPTED", "csrf": ""},
    ):
        reply = inbox.act(Request(form=form, cookies=cookies), "ref-p1")
        assert reply.status == 403 and reply.ack is None
    assert inbox.act(Request(form={"action": "ACCEPTED", "csrf": csrf}), "ref-p1").status == 403  # no session


async def test_the_acknowledgement_names_the_session_recipient_never_the_form(inbox: Inbox) -> None:
    cookies, csrf = await signed_in_cookies(inbox, POLICE)
    form = {"action": "DECLINED", "reason_code": "no_capacity", "csrf": csrf, "recipient_id": CHILD, "note": "busy"}
    reply = inbox.act(Request(form=form, cookies=cookies), "ref-p1")
    assert reply.status == 303 and reply.location == "/inbox/referrals/ref-p1?msg=sent"
    assert reply.ack is not None and reply.case_id == "case-ref-p1"
    assert reply.ack["recipient_id"] == POLICE
    assert (reply.ack["outcome"], reply.ack["reason_code"], reply.ack["note"]) == ("DECLINED", "no_capacity", "busy")
    assert reply.ack["acknowledged_at"] == NOW_MS and reply.ack["action_id"]
    # and on another recipient's referral nothing is produced
    theirs = inbox.act(Request(form=form, cookies=cookies), "ref-c1")
    assert theirs.status == 403 and theirs.ack is None


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"action": "DECLINED"}, 400),  # no reason
        ({"action": "DECLINED", "reason_code": "bored"}, 400),
        ({"action": "COMPLETED"}, 400),  # the inbox always asks for an outcome
        ({"action": "COMPLETED", "outcome_code": "investigation_opened", "note": "x" * 2001}, 400),
        ({"action": "TRANSFERRED", "transfer_to": "vn-health-oscc-national"}, 400),  # police → health: not in transfers
        ({"action": "TRANSFERRED", "transfer_to": "vn-police-ha-noi"}, 400),  # never to oneself
        ({"action": "IN_PROGRESS"}, 409),  # not from DELIVERED
        ({"action": "CANCELLED"}, 409),
        ({"action": "REJECTED", "reason_code": "other"}, 409),  # legacy alias: not a button
    ],
)
async def test_refused_actions_produce_nothing(inbox: Inbox, form: dict[str, str], status: int) -> None:
    cookies, csrf = await signed_in_cookies(inbox, POLICE)
    reply = inbox.act(Request(form={**form, "csrf": csrf}, cookies=cookies), "ref-p1")
    assert (reply.status, reply.ack) == (status, None)


async def test_a_transfer_to_an_allowed_recipient(inbox: Inbox) -> None:
    cookies, csrf = await signed_in_cookies(inbox, POLICE)
    form = {"action": "TRANSFERRED", "transfer_to": "vn-police-hue", "csrf": csrf}
    reply = inbox.act(Request(form=form, cookies=cookies), "ref-p1")
    assert reply.ack is not None and reply.ack["transfer_to"] == "vn-police-hue"


async def test_a_final_referral_offers_no_action(inbox: Inbox, store: Store) -> None:
    store["ref-p1"] = {**store["ref-p1"], "state": "COMPLETED"}
    cookies, csrf = await signed_in_cookies(inbox, POLICE)
    assert "class=act" not in (await inbox.detail(Request(cookies=cookies), "ref-p1")).body
    assert inbox.act(Request(form={"action": "ACCEPTED", "csrf": csrf}, cookies=cookies), "ref-p1").status == 409


async def test_signed_links(inbox: Inbox) -> None:
    def open_link(link: str, cookies: dict[str, str] | None = None) -> Reply:
        path, _, query = link.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&"))
        return inbox.link(Request(query=params, cookies=cookies or {}), path.rsplit("/", 1)[1])

    good = make_link("http://x/inbox", LINK_KEY, "ref-c1", CHILD, NOW_MS // 1000 + 60)
    assert open_link(good).location == "/inbox/signin?next=/inbox/referrals/ref-c1"
    cookies, _ = await signed_in_cookies(inbox, CHILD)
    assert open_link(good, cookies).location == "/inbox/referrals/ref-c1"
    expired = make_link("http://x/inbox", LINK_KEY, "ref-c1", CHILD, NOW_MS // 1000 - 1)
    forged = make_link("http://x/inbox", "another key " * 3, "ref-c1", CHILD, NOW_MS // 1000 + 60)
    other = good.replace(CHILD, POLICE)
    for link in (expired, forged, other):
        assert open_link(link).status == 403


def test_redirects_stay_in_the_inbox() -> None:
    assert safe_next("/inbox/referrals/ref-1") == "/inbox/referrals/ref-1"
    for bad in ("https://evil.example/", "//evil.example", "/inbox/../admin", "/inbox/referrals/x?y", None, ""):
        assert safe_next(bad) == "/inbox/"


async def test_language_switch(inbox: Inbox) -> None:
    reply = inbox.language(Request(query={"set": "en", "next": "https://evil.example"}))
    assert reply.location == "/inbox/" and reply.cookies[0].value == "en"
    assert "Sign in" in inbox.signin_form(Request(cookies={"inbox_lang": "en"})).body
    assert "Đăng nhập" in inbox.signin_form(Request()).body


async def test_sign_out_needs_the_token(inbox: Inbox) -> None:
    cookies, csrf = await signed_in_cookies(inbox, POLICE)
    assert (await inbox.signout(Request(cookies=cookies))).status == 403
    out = await inbox.signout(Request(form={"csrf": csrf}, cookies=cookies))
    assert out.status == 303 and out.cookies == [Cookie(SESSION_COOKIE, "", 0)]  # deleted: empty, max-age 0


async def test_a_copied_cookie_is_refused_after_sign_out(inbox: Inbox) -> None:
    from services.inbox.signouts import SignOuts

    table: dict[str, int] = {}
    signouts = SignOuts(table)
    recorded: list[tuple[str, int]] = []

    async def revoke(session: Any) -> None:
        signouts.remember(session.session_id, session.expires_s, NOW_MS // 1000)
        recorded.append((session.session_id, session.expires_s))

    inbox.revoked, inbox.revoke = signouts.revoked, revoke
    cookies, csrf = await signed_in_cookies(inbox, POLICE)
    other, _ = await signed_in_cookies(inbox, POLICE)  # the same unit signed in elsewhere: not signed out by this
    copied = dict(cookies)
    assert inbox.index(Request(cookies=copied)).status == 200
    assert (await inbox.signout(Request(form={"csrf": csrf}, cookies=cookies))).status == 303
    assert len(recorded) == 1
    for page in (inbox.index(Request(cookies=copied)), await inbox.detail(Request(cookies=copied), "ref-p1")):
        assert page.status in (303, 401) and "ref-p1" not in page.body
    assert (await inbox.signout(Request(form={"csrf": csrf}, cookies=copied))).status == 403
    assert inbox.index(Request(cookies=other)).status == 200
    # after a restart only the table knows: the sign-out event wrote it
    signouts.local.clear()
    assert inbox.index(Request(cookies=copied)).status == 200  # (nothing written yet: the event is the record)
    table[recorded[0][0]] = recorded[0][1]
    assert inbox.index(Request(cookies=copied)).status != 200


async def test_a_sign_out_not_recorded_is_told_to_retry(inbox: Inbox) -> None:
    async def broken(session: Any) -> None:
        raise OSError("broker down")

    inbox.revoke = broken
    cookies, csrf = await signed_in_cookies(inbox, POLICE)
    assert (await inbox.signout(Request(form={"csrf": csrf}, cookies=cookies))).status == 503


async def test_each_view_of_ones_own_referral_is_a_disclosure_and_a_refusal_none(inbox: Inbox, store: Store) -> None:
    from referral_bus.codec import Codec
    from referral_domain import disclosure

    cookies, _ = await signed_in_cookies(inbox, POLICE)
    first = await inbox.detail(Request(cookies=cookies), "ref-p1")
    inbox.now_ms = lambda: NOW_MS + 1  # the same page a moment later: another view
    again = await inbox.detail(Request(cookies=cookies), "ref-p1")
    record = first.disclosure
    assert record is not None and first.case_id == "case-ref-p1"
    doc = store["ref-p1"]["doc"]
    assert (record["channel"], record["purpose"], record["recipient_id"]) == ("inbox", "view", POLICE)
    assert (record["referral_id"], record["case_id"], record["data_profile"]) == ("ref-p1", "case-ref-p1", "full")
    assert record["fields"] == disclosure.field_paths(doc) and "case.report.narrative" in record["fields"]
    assert record["payload_digest"] == disclosure.digest(disclosure.canonical(doc))
    assert "n" not in [v for v in record.values() if isinstance(v, str)]  # paths, never the values
    assert again.disclosure is not None and again.disclosure["disclosure_id"] != record["disclosure_id"]
    Codec().encode("Disclosure", record)  # a valid record of the contract
    refused = await inbox.detail(Request(cookies=cookies), "ref-c1")
    assert refused.status == 403 and refused.disclosure is None
    assert inbox.index(Request(cookies=cookies)).disclosure is None  # the list shows no case data


async def test_a_sealed_document_is_opened_for_the_page_only(inbox: Inbox, store: Store) -> None:
    import dataclasses

    from referral_domain import disclosure

    async def open_doc(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "case": {**doc["case"], "report": {"narrative": "OPENED-NARRATIVE"}}}

    sealed_inbox = dataclasses.replace(inbox, open_doc=open_doc)
    cookies, _ = await signed_in_cookies(sealed_inbox, POLICE)
    page = await sealed_inbox.detail(Request(cookies=cookies), "ref-p1")
    assert "OPENED-NARRATIVE" in page.body
    assert "OPENED-NARRATIVE" not in json.dumps(store["ref-p1"])  # the read model keeps what it was given
    assert page.disclosure is not None
    opened = await open_doc(dict(store["ref-p1"]["doc"]))
    assert page.disclosure["payload_digest"] == disclosure.digest(disclosure.canonical(opened))
