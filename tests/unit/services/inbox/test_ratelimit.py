"""Failed sign-ins: blocked after the limit per recipient id or per address, freed when the window passes."""

from __future__ import annotations

from services.inbox.ratelimit import MAX_TRACKED, FailedSignins


def test_blocked_after_the_limit_and_free_after_the_window() -> None:
    limiter = FailedSignins(3, 60)
    keys = ["id:a", "ip:1.2.3.4"]
    for t in range(3):
        assert not limiter.blocked(keys, t)
        limiter.failed(keys, t)
    assert limiter.blocked(keys, 3)
    assert limiter.blocked(["id:a", "ip:other"], 3)  # the id alone is enough
    assert limiter.blocked(["id:b", "ip:1.2.3.4"], 3)  # and the address alone
    assert not limiter.blocked(keys, 62.5)


def test_success_clears_the_id_but_not_the_address() -> None:
    limiter = FailedSignins(2, 60)
    limiter.failed(["id:a", "ip:x"], 0)
    limiter.failed(["id:a", "ip:x"], 1)
    limiter.succeeded("id:a")
    assert not limiter.blocked(["id:a"], 2)
    assert limiter.blocked(["ip:x"], 2)


def test_memory_is_bounded() -> None:
    limiter = FailedSignins(2, 60)
    for i in range(MAX_TRACKED + 50):
        limiter.failed([f"ip:{i}"], 0)
    assert len(limiter._failures) <= MAX_TRACKED
