"""A webhook that never answers fails the attempt (retryable) after the client's timeout.

A recipient without its own `timeout_seconds` must fall back to NOTIFIER_HTTP_TIMEOUT_SECONDS, not to
no timeout at all: a hung receiver would otherwise hold a delivery slot for ever. Real local server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from referral_devstack.workers import free_port
from referral_domain.directory import Recipient
from services.notifier.channels.webhook import Webhook
from services.notifier.errors import DeliveryError
from services.notifier.secrets import Secrets


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
