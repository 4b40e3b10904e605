"""Content keys of a report: the exact hashes and normalised URLs that correlation matches on.

A content key is the SHA-256 of a canonical text (`hash:<algorithm>:<value>` or `url:<normalised
url>`), never the URL or hash itself, so the Kafka key of the correlation topic, the correlation
table's keys and anything derived from them carry no URL (a URL can name a person's account).

Matching is exact: two reports match when they carry the same algorithm and value, or the same URL
after normalisation. Only a URL that identifies a piece of content is a key: a bare domain or a home
page (with or without `www.`, tracking parameters or any query) names a whole site, and linking on it
would join unrelated reports, so such URLs are not matched on at all. Perceptual hashes (PDQ,
PhotoDNA) are compared as exact values too; similarity
matching (Hamming distance) is out of scope here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

MatchedOn = Literal["hash", "url"]

# A report may carry up to 1,000 hashes and 1,000 URLs; each key costs one hop through the
# correlation topic, so only the first keys in a deterministic order take part (hashes first).
MAX_CONTENT_KEYS = 16

_DEFAULT_PORTS = {80, 443}
_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "igshid", "mc_cid", "mc_eid", "ref_src"})
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
# Paths that are a site's home page under another name (compared lower-case, after normalisation).
_HOME_PATHS = frozenset(
    {"/", "/index", "/index.html", "/index.htm", "/index.php", "/default.asp", "/default.aspx", "/home", "/home.php"}
)


@dataclass(frozen=True, order=True)
class ContentKey:
    """One key a report can be matched on: its digest (the Kafka/table key) and what kind it is."""

    digest: str
    matched_on: MatchedOn


def normalise_url(url: str) -> str:
    """The canonical form two URLs of the same content share ("" for text that is not a URL).

    http and https are the same content; host is lower-cased without a trailing dot or a leading
    `www.`; default ports, user info and the fragment are dropped; percent-encoding is made uniform;
    a trailing slash is dropped; query parameters are sorted and common click-tracking ones
    (`utm_*`, `fbclid`, ...) removed. Path case is kept: many hosts treat it as significant.
    Never raises, whatever the text.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket: not a URL
        return ""
    host = host.removeprefix("www.")
    try:
        port = parts.port
    except ValueError:  # a malformed port: keep the text so distinct garbage stays distinct
        port = None
        host = f"{host}:{parts.netloc.rsplit(':', 1)[-1]}"
    netloc = host if port is None or port in _DEFAULT_PORTS else f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    )
    return f"//{netloc}{path}" + (f"?{urlencode(query)}" if query else "")


def identifies_content(normalised: str) -> bool:
    """Whether a normalised URL names one piece of content: a host and a path below its home page."""
    if not normalised.startswith("//"):
        return False
    rest = normalised[2:]
    host, slash, path_query = rest.partition("/")
    path = "/" + path_query.split("?", 1)[0] if slash else "/"
    return bool(host) and not host.startswith(":") and path.lower() not in _HOME_PATHS


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_key(algorithm: str, value: str) -> ContentKey:
    """The key of one content hash (algorithm and value as intake normalised them: lower-case)."""
    return ContentKey(_digest(f"hash:{algorithm.strip().lower()}:{value.strip().lower()}"), "hash")


def url_key(url: str) -> ContentKey | None:
    """The key of one content URL, after normalisation; None for a URL that names no one piece of content."""
    normalised = normalise_url(url)
    if not identifies_content(normalised):
        return None
    return ContentKey(_digest(f"url:{normalised}"), "url")


def content_keys(report: dict[str, Any]) -> list[ContentKey]:
    """A report's distinct content keys in a deterministic order: sha256 first, other hashes, then URLs.

    Empty when the report carries neither hashes nor URLs of content (it then skips correlation). At most
    MAX_CONTENT_KEYS keys, so a report with thousands of URLs cannot flood the correlation topic.
    """
    hashes = sorted(
        (h["algorithm"] != "sha256", h["algorithm"], h["value"]) for h in report.get("content_hashes") or []
    )
    keys = [hash_key(alg, value) for _, alg, value in hashes]
    keys += [k for k in (url_key(u) for u in report.get("content_urls") or []) if k is not None]
    out: list[ContentKey] = []
    seen: set[str] = set()
    for k in keys:
        if k.digest not in seen:
            seen.add(k.digest)
            out.append(k)
    return out[:MAX_CONTENT_KEYS]
