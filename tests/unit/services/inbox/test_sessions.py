"""Session cookies and CSRF tokens: signed, expiring, and any change to them is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.inbox.sessions import Sessions

KEY = "k" * 32


def test_a_session_reads_back_until_it_expires() -> None:
    sessions = Sessions(KEY, minutes=10)
    cookie, session = sessions.issue("vn-police-ha-noi", 1000)
    assert sessions.read(cookie, 1000) == session
    assert sessions.read(cookie, 1000 + 599) == session
    assert sessions.read(cookie, 1000 + 600) is None


def test_another_key_or_no_cookie_reads_nothing() -> None:
    cookie, _ = Sessions(KEY, 10).issue("a", 0)
    assert Sessions("x" * 32, 10).read(cookie, 0) is None
    for bad in (None, "", ".", "a.b.c", "x" * 5000):
        assert Sessions(KEY, 10).read(bad, 0) is None


@given(st.integers(min_value=0), st.characters(codec="ascii"))
def test_any_changed_character_is_refused(position: int, char: str) -> None:
    sessions = Sessions(KEY, 10)
    cookie, _ = sessions.issue("vn-police-ha-noi", 0)
    i = position % len(cookie)
    forged = cookie[:i] + char + cookie[i + 1 :]
    if forged != cookie:
        assert sessions.read(forged, 0) is None


def test_a_forged_recipient_with_the_old_signature_is_refused() -> None:
    import base64
    import json

    sessions = Sessions(KEY, 10)
    cookie, _ = sessions.issue("a", 0)
    _, mac = cookie.split(".")
    other = base64.urlsafe_b64encode(json.dumps({"r": "b", "s": "x", "e": 10**10}).encode()).decode().rstrip("=")
    assert sessions.read(f"{other}.{mac}", 0) is None


def test_csrf_tokens_are_bound_to_the_session() -> None:
    sessions = Sessions(KEY, 10)
    token = sessions.csrf_token("s1")
    assert sessions.check_csrf("s1", token)
    assert not sessions.check_csrf("s2", token)
    assert not sessions.check_csrf("s1", None)
    assert not sessions.check_csrf(None, token)
    assert not sessions.check_csrf("s1", token[:-1] + ("0" if token[-1] != "0" else "1"))


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        Sessions("short", 10)
