"""Signed inbox links: right signature and not expired, or refused; any change to the link is refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import example, given
from hypothesis import strategies as st

from referral_domain.inboxlink import check_link, make_link

KEY = "k" * 32


def _parts(link: str) -> tuple[str, str, str, str]:
    url = urlsplit(link)
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    return url.path.rsplit("/", 1)[1], q["r"], q["e"], q["s"]


def test_a_link_checks_until_it_expires() -> None:
    link = make_link("https://inbox.example/inbox/", KEY, "ref-1", "vn-police-ha-noi", 1000)
    assert link.startswith("https://inbox.example/inbox/link/ref-1?")
    rid, who, exp, sig = _parts(link)
    assert check_link(KEY, rid, who, exp, sig, 1000).recipient_id == "vn-police-ha-noi"
    assert check_link(KEY, rid, who, exp, sig, 1001).problem is not None


@given(st.sampled_from(["rid", "who", "exp", "sig", "key"]), st.text(min_size=1, max_size=12))
@example("exp", "¹")  # isdigit() but not int(): once a ValueError
def test_any_change_is_refused(part: str, value: str) -> None:
    rid, who, exp, sig = _parts(make_link("https://x/inbox", KEY, "ref-1", "a", 10**9))
    values = {"rid": rid, "who": who, "exp": exp, "sig": sig, "key": KEY}
    if values[part] == value:
        return
    values[part] = value
    checked = check_link(values["key"], values["rid"], values["who"], values["exp"], values["sig"], 0)
    assert checked.recipient_id is None and checked.problem


def test_an_empty_key_checks_nothing() -> None:
    rid, who, exp, sig = _parts(make_link("https://x/inbox", "", "ref-1", "a", 10**9))
    assert check_link("", rid, who, exp, sig, 0).recipient_id is None
