"""Sign-out events: what the inbox writes it reads back; anything else is a specific error (dead-lettered)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.errors import InvalidFieldError
from services.inbox.signouts import SignOuts, parse, record


@given(sid=st.text(st.characters(codec="ascii"), min_size=1, max_size=64), expires=st.integers(1, 2**40))
def test_a_sign_out_reads_back(sid: str, expires: int) -> None:
    assert parse(record(sid, expires)) == (sid, expires)


@given(st.binary(max_size=600))
def test_hostile_bytes_are_an_invalid_field_never_another_error(value: bytes) -> None:
    try:
        sid, expires = parse(value)
    except InvalidFieldError:
        return
    assert isinstance(sid, str) and expires > 0


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"[]",
        b'{"session_id": 1, "expires_s": 5}',
        b'{"session_id": "s", "expires_s": true}',
        b'{"session_id": "s", "expires_s": -1}',
        b'{"session_id": "", "expires_s": 5}',
        record("s" * 65, 5),
        b'{"session_id": "s", "expires_s": 5, "pad": "' + b"x" * 600 + b'"}',
    ],
)
def test_what_is_refused(value: bytes | None) -> None:
    with pytest.raises(InvalidFieldError):
        parse(value)


def test_this_worker_refuses_at_once_and_forgets_expired_sessions() -> None:
    table: dict[str, int] = {"by-another-replica": 500}
    signouts = SignOuts(table)
    assert signouts.revoked("by-another-replica") and not signouts.revoked("mine")
    signouts.remember("mine", 100, now_s=50)
    assert signouts.revoked("mine")
    signouts.remember("later", 300, now_s=150)  # "mine" expired at 100: no longer kept (its cookie is refused anyway)
    assert set(signouts.local) == {"later"}


def test_every_session_is_refused_while_the_table_is_restored() -> None:
    recovered = False
    signouts = SignOuts({}, recovered=lambda: recovered)
    assert signouts.revoked("any")
    recovered = True
    assert not signouts.revoked("any")
