"""Local stand-ins for agencies: a webhook receiver (aiohttp) and an SMTP server (aiosmtpd), real both.

Used by `make run`, end-to-end tests, benchmarks and fault drills; `acknowledge` answers as a recipient would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web

from referral_devstack.workers import free_port, hold_free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve_post(
    port: int, path: str, handler: Handler, *, max_body: int, backlog: int = 128, sock: socket.socket | None = None
) -> web.AppRunner:
    """A real HTTP server answering POST `path` with `handler`; stop it with `stop_serving`.

    It listens on 127.0.0.1:`port`, or on `sock` when given (a port held for it since it was picked).
    """
    app = web.Application(client_max_size=max_body)
    app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if sock is not None:
        await web.SockSite(runner, sock, backlog=backlog).start()
    else:
        await web.TCPSite(runner, "127.0.0.1", port, backlog=backlog).start()
    return runner


async def stop_serving(runner: web.AppRunner | None) -> None:
    """Stop a server `serve_post` started (nothing when it never started)."""
    if runner is not None:
        await runner.cleanup()


@dataclass
class Delivery:
    """One request the webhook receiver got."""

    recipient_id: str
    idempotency_key: str
    headers: dict[str, str]
    body: bytes
    at_ms: int

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server standing in for agencies: records deliveries; can fail on purpose."""

    port: int = 0  # 0: a free port, held from now on until the server listens on it (its URLs can be handed out)
    deliveries: list[Delivery] = field(default_factory=list)
    behaviour: dict[str, Callable[[int], int]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    hang_seconds: float = 3600.0  # how long a "hang" (status 0) holds the request before answering 504
    slow_seconds: dict[str, float] = field(default_factory=dict)  # recipient → how long each answer takes
    _runner: web.AppRunner | None = None
    _held: socket.socket | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.port:
            self._held = hold_free_port()
            self.port = int(self._held.getsockname()[1])

    @property
    def base_url(self) -> str:
        """Base URL recipients' webhook URLs are rewritten to."""
        return f"http://127.0.0.1:{self.port}/agencies"

    async def _handle(self, request: web.Request) -> web.Response:
        recipient = request.match_info["recipient"]
        body = await request.read()
        key = request.headers.get("Idempotency-Key", "")
        n = self.attempts.get(key, 0) + 1
        self.attempts[key] = n
        status = self.behaviour[recipient](n) if recipient in self.behaviour else 200
        if self.slow_seconds.get(recipient):  # a slow recipient: answers, but late
            await asyncio.sleep(self.slow_seconds[recipient])
        if status == 0:  # hang: let the client time out
            await asyncio.sleep(self.hang_seconds)
            status = 504
        if 200 <= status < 300:
            self.deliveries.append(Delivery(recipient, key, dict(request.headers), body, int(time.time() * 1000)))
        return web.json_response({"status": status}, status=status)

    async def start(self) -> None:
        """Listen on 127.0.0.1:port (on the socket held for it: the first start)."""
        sock, self._held = self._held, None
        self._runner = await serve_post(
            self.port, "/agencies/{recipient}", self._handle, max_body=8 * 1024 * 1024, sock=sock
        )

    async def stop(self) -> None:
        """Stop listening."""
        await stop_serving(self._runner)


@dataclass
class MailReceiver:
    """A real SMTP server (aiosmtpd) that keeps every message it receives."""

    port: int = field(default_factory=free_port)
    messages: list[Message] = field(default_factory=list)
    _controller: Any = None

    def start(self) -> None:
        """Listen on 127.0.0.1:port (its own thread, as aiosmtpd's Controller does)."""
        from aiosmtpd.controller import Controller

        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop the server thread."""
        if self._controller is not None:
            self._controller.stop()


async def acknowledge(
    port: int,
    referral_id: str,
    token: str,
    outcome: str = "ACCEPTED",
    *,
    reason: str | None = None,
    case_id: str | None = None,
) -> int:
    """POST an acknowledgement to a notifier's `/referrals/{id}/ack` as a recipient would; the status code."""
    import httpx

    body: dict[str, Any] = {"outcome": outcome}
    if reason is not None:
        body["reason"] = reason
    if case_id is not None:
        body["case_id"] = case_id
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"http://127.0.0.1:{port}/referrals/{referral_id}/ack",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.status_code
