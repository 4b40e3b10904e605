"""The webhook receiver holds its port from the moment it is made (its URLs go into directories before it
starts), so nothing can take the port before it listens."""

from __future__ import annotations

import socket

import httpx
import pytest

from referral_devstack.receivers import WebhookReceiver


async def test_the_webhook_receiver_s_port_is_held_until_it_listens_there() -> None:
    web = WebhookReceiver()
    with socket.socket() as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", web.port))  # another process picking the same port cannot have it
    await web.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{web.base_url}/someone", content=b"x", headers={"Idempotency-Key": "k"})
        assert response.status_code == 200
        assert [(d.recipient_id, d.body) for d in web.deliveries] == [("someone", b"x")]
    finally:
        await web.stop()
    await web.start()  # started again (its held socket went with the first server): the same port
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.post(f"{web.base_url}/someone", content=b"y")).status_code == 200
    finally:
        await web.stop()
