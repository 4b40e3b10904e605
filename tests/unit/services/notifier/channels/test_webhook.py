"""The webhook channel against real local servers: timeouts, statuses, redirects, the client span's traceparent.

A recipient without its own `timeout_seconds` must fall back to NOTIFIER_HTTP_TIMEOUT_SECONDS, not to
no timeout at all: a hung receiver would otherwise hold a delivery slot for ever.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from referral_bus import http_spans
from referral_devstack.workers import free_port
from referral_domain.directory import Recipient
from services.notifier.channels.webhook import Webhook, refusal_of
from services.notifier.errors import DeliveryError
from services.notifier.secrets import Secrets
from tests.support.notifier import recipient as directory_entry


async def test_a_receiver_that_never_answers_times_out_with_the_client_default(tmp_path: Path) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)  # do not wait for the hung handler on cleanup
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    (tmp_path / "webhook-slow").write_text("secret", encoding="utf-8")
    recipient = Recipient.model_validate(
        {
            "id": "slow",
            "name": "SAMPLE slow receiver",
            "kind": "police",
            "jurisdictions": ["VN-SG"],
            "channel": {"type": "webhook", "url": f"http://127.0.0.1:{port}/hook"},
        }
    )
    channel = Webhook(Secrets(tmp_path), timeout_seconds=0.5)
    try:
        with pytest.raises(DeliveryError) as caught:
            await asyncio.wait_for(channel.deliver(recipient, {"referral_id": "ref-1"}, {"referral_id": "ref-1"}), 30)
        assert caught.value.retryable and "timed out" in str(caught.value)
    finally:
        await channel.close()
        await runner.cleanup()


@given(st.integers(200, 599))
def test_every_status_is_delivered_retryable_or_refused_as_the_channel_promises(status: int) -> None:
    refusal = refusal_of(status)
    if 200 <= status < 300:
        assert refusal is None
        return
    assert refusal is not None and str(status) in str(refusal)
    assert refusal.retryable == (status in (408, 425, 429) or status >= 500)
    assert ("redirect" in str(refusal)) == (300 <= status < 400)


def _recipient(url: str) -> Recipient:
    return Recipient.model_validate(directory_entry("probe", {"type": "webhook", "url": url, "timeout_seconds": 5}))


async def _answering(status: int, location: str = "") -> tuple[web.AppRunner, int, list[web.Request]]:
    seen: list[web.Request] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request)
        await request.read()
        return web.Response(status=status, headers={"Location": location} if location else None)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port, seen


async def test_a_redirect_is_refused_without_following_it_and_statuses_reach_the_span(tmp_path: Path) -> None:
    (tmp_path / "webhook-probe").write_text("secret", encoding="utf-8")
    target, target_port, reached = await _answering(200)
    moved, moved_port, _ = await _answering(307, f"http://127.0.0.1:{target_port}/hook")
    failing, failing_port, _ = await _answering(503)
    channel = Webhook(Secrets(tmp_path), timeout_seconds=5)
    try:
        with pytest.raises(DeliveryError, match="redirects are never followed") as caught:
            await channel.deliver(_recipient(f"http://127.0.0.1:{moved_port}/hook"), {"referral_id": "r1"}, {"a": 1})
        assert not caught.value.retryable and reached == []
        with pytest.raises(DeliveryError, match="HTTP 503") as caught:
            await channel.deliver(_recipient(f"http://127.0.0.1:{failing_port}/hook"), {"referral_id": "r1"}, {"a": 1})
        assert caught.value.retryable
        await channel.deliver(_recipient(f"http://127.0.0.1:{target_port}/hook"), {"referral_id": "r1"}, {"a": 1})
        assert [r.headers["Idempotency-Key"] for r in reached] == ["r1"]
    finally:
        await channel.close()
        for runner in (target, moved, failing):
            await runner.cleanup()


async def test_the_request_carries_the_client_spans_traceparent(tmp_path: Path) -> None:
    (tmp_path / "webhook-probe").write_text("secret", encoding="utf-8")
    runner, port, seen = await _answering(200)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    http_spans.install(provider.get_tracer("test"))
    channel = Webhook(Secrets(tmp_path), timeout_seconds=5)
    try:
        await channel.deliver(_recipient(f"http://127.0.0.1:{port}/hook"), {"referral_id": "r1"}, {"a": 1})
    finally:
        http_spans._tracer = None
        await channel.close()
        await runner.cleanup()
    (span,) = spans.get_finished_spans()
    assert span.context is not None and span.attributes is not None
    assert seen[0].headers["traceparent"].split("-")[2] == format(span.context.span_id, "016x")
    assert span.attributes["http.response.status_code"] == 200


@pytest.mark.parametrize(
    ("url", "key", "message", "retryable"),
    [
        ("http://127.0.0.1:{port}/hook", "r1\r\nX-Injected: 1", "cannot be sent", False),
        ("http://127.0.0.1:{closed}/hook", "r1", "unreachable", True),
        ("http://hooks..example.org:{port}/hook", "r1", "cannot be sent", False),  # no resolver takes an empty label
        ("http://hooks.example.org:0/hook", "r1", "cannot be sent", False),
    ],
)
async def test_requests_that_cannot_be_sent_or_reach_nobody_fail_as_such(
    tmp_path: Path, url: str, key: str, message: str, retryable: bool
) -> None:
    (tmp_path / "webhook-probe").write_text("secret", encoding="utf-8")
    runner, port, seen = await _answering(200)
    channel = Webhook(Secrets(tmp_path), timeout_seconds=5)
    try:
        with pytest.raises(DeliveryError, match=message) as caught:
            await channel.deliver(_recipient(url.format(port=port, closed=free_port())), {"referral_id": key}, {"a": 1})
        assert caught.value.retryable == retryable and seen == []
    finally:
        await channel.close()
        await runner.cleanup()
