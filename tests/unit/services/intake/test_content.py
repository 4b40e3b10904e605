"""The URL normaliser over hostile input: total, idempotent, and never a key for a site's home page.

Linking is by content only: a bare domain or a home page (any `www.`, port, tracking parameters or
query) must never become a content key, or unrelated reports about one platform would join one case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.content import content_keys, identifies_content, normalise_url, url_key

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
HOSTS = st.lists(LABEL, min_size=2, max_size=4).map(".".join)
SEGMENT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="/?#"), min_size=1, max_size=12)
PATHS = st.lists(SEGMENT, min_size=1, max_size=4).map(lambda segs: "/" + "/".join(quote(s, safe="") for s in segs))
TRACKING = st.lists(
    st.sampled_from(
        ["utm_source=x", "utm_medium=y", "utm_campaign=z", "fbclid=abc", "gclid=1", "igshid=q", "ref_src=t"]
    ),
    max_size=3,
)
HOME = st.sampled_from(["", "/", "/index.html", "/INDEX.HTML", "/index.php", "/home", "/default.aspx", "//"])


def _variant(draw: Callable[[st.SearchStrategy[Any]], Any], host: str, path: str) -> str:
    """The same address as a person might paste it: scheme, case, www., port, user, tracking, fragment."""
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    shown = draw(st.sampled_from([host, host.upper(), "www." + host, "WWW." + host, host + "."]))
    port = draw(st.sampled_from(["", ":443", ":80"]))
    user = draw(st.sampled_from(["", "user@", "user:pw@"]))
    slash = draw(st.sampled_from(["", "/"])) if path not in ("", "/") else ""
    tracking = draw(TRACKING)
    fragment = draw(st.sampled_from(["", "#top", "#c=1"]))
    query = ("?" + "&".join(tracking)) if tracking else ""
    return f"{scheme}://{user}{shown}{port}{path}{slash}{query}{fragment}"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_text_normalises_without_raising(text: str) -> None:
    out = normalise_url(text)
    assert isinstance(out, str)
    url_key(text)  # never raises either


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("[]:@/?#%.&=wW0123456789abc-_ "), max_size=60))
def test_url_punctuation_soup_never_raises(text: str) -> None:
    for candidate in (text, "https://" + text, "http://[" + text):
        normalise_url(candidate)
        url_key(candidate)


@settings(max_examples=300, deadline=None)
@given(st.data(), HOSTS, HOME)
def test_a_home_page_is_never_a_content_key_however_it_is_written(data: st.DataObject, host: str, home: str) -> None:
    variant = _variant(data.draw, host, home)
    assert url_key(variant) is None, variant
    report = {"content_hashes": [], "content_urls": [variant]}
    assert content_keys(report) == []


@settings(max_examples=300, deadline=None)
@given(st.data(), HOSTS, PATHS)
def test_variants_of_one_content_url_share_one_key(data: st.DataObject, host: str, path: str) -> None:
    plain = f"https://{host}{path}"
    key = url_key(plain)
    if key is None:  # the path collapsed to a home page (e.g. "/index.html" drawn): nothing to link on
        assert not identifies_content(normalise_url(plain))
        return
    assert url_key(_variant(data.draw, host, path)) == key


@settings(max_examples=300, deadline=None)
@given(HOSTS, PATHS, PATHS)
def test_different_paths_on_one_host_are_different_content(host: str, a: str, b: str) -> None:
    ka, kb = url_key(f"https://{host}{a}"), url_key(f"https://{host}{b}")
    if ka is not None and kb is not None and normalise_url(f"https://{host}{a}") != normalise_url(f"https://{host}{b}"):
        assert ka != kb


@settings(max_examples=300, deadline=None)
@given(HOSTS, PATHS, TRACKING)
def test_normalising_twice_changes_nothing(host: str, path: str, tracking: list[str]) -> None:
    url = f"https://www.{host}{path}" + ("?" + "&".join(tracking) if tracking else "")
    once = normalise_url(url)
    assert normalise_url("https:" + once) == once


def test_examples_from_the_issue() -> None:
    for generic in (
        "https://www.examplesocial.invalid/",
        "https://examplesocial.invalid",
        "http://EXAMPLESOCIAL.invalid:80/?utm_source=share&fbclid=x",
        "https://www.examplesocial.invalid/index.html?igshid=abc",
        "https://examplesocial.invalid/?lang=vi",
        "https:///no-host",
        "http://[::1",
    ):
        assert url_key(generic) is None, generic
    assert url_key("https://www.examplesocial.invalid/p/123?utm_source=x") == url_key(
        "http://examplesocial.invalid/p/123/"
    )
