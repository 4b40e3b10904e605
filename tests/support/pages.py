"""A worker's web port serves only our pages: none of Faust's (table contents, the cluster's layout, statistics)."""

from __future__ import annotations

import httpx

# Faust's built-in pages (table contents, the cluster's layout, statistics): none is served.
FAUST_PAGES = (
    "/",
    "/table/",
    "/table/referral_state/",
    "/table/referral_state/{rid}/",
    "/table/deliveries/{rid}/",
    "/table/dedup/",
    "/router/",
    "/router/topics",
    "/router/referral_state/",
    "/router/referral_state/{rid}/",
    "/stats/",
    "/assignment/",
    "/graph/",
    "/performance/",
)


async def assert_only_our_pages(port: int, key: str) -> None:
    """The worker's web port answers 404 to every Faust page, and still serves health, readiness, metrics."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for page in FAUST_PAGES:
            path = page.format(rid=key)
            answer = await client.get(path)
            assert answer.status_code == 404, (path, answer.status_code, answer.text[:200])
            assert key not in answer.text
        for ours in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(ours)).status_code == 200, ours
