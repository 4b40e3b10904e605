"""Inbox passwords: salted PBKDF2 hashes, constant-cost checks, malformed hashes never match."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.inbox.passwords import hash_password, verify_password

FAST = 1_000


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_only_the_right_password_matches(password: str, other: str) -> None:
    stored = hash_password(password, iterations=FAST)
    assert verify_password(password, stored)
    assert verify_password(other, stored) == (other == password)


def test_salted_so_two_hashes_differ() -> None:
    assert hash_password("same", iterations=FAST) != hash_password("same", iterations=FAST)


def test_missing_or_malformed_hashes_never_match() -> None:
    good = hash_password("pw", iterations=FAST)
    scheme, rounds, salt, digest = good.split("$")
    for stored in (
        None,
        "",
        "pw",
        "md5$1$x$y",
        f"{scheme}$10${salt}${digest}",
        f"{scheme}$x${salt}${digest}",
        f"{scheme}${rounds}$!!!${digest}",
        good + "$extra",
    ):
        assert not verify_password("pw", stored), stored
