"""Client-side CPU per webhook POST: the notifier's `Webhook.deliver` in a loop against a local receiver.

The receiver (aiohttp, answering 200) runs in another process, so `time.process_time` here is the client's
own CPU: body, signature, span, request, response. Compare trees only within one run (A B A B).

    python -m bench.webhook_post [--posts 2000] [--repeats 3] [--tls] [--profile out.prof]

`--tls`: HTTPS to a receiver with a certificate made on the spot (verification off on the client: connections
are pooled, so verification costs only at the handshake, outside the timed loop).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from referral_devstack.workers import free_port
from referral_domain.directory import Recipient
from services.notifier.channels.webhook import Webhook
from services.notifier.secrets import Secrets
from tests.support.notifier import recipient as directory_entry

_RECEIVER = r"""
import ssl, sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response(status=200, text="ok")
app = web.Application()
app.router.add_post("/hook", ok)
tls = None
if len(sys.argv) > 2:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(sys.argv[2])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, ssl_context=tls)
"""
DOC = {"referral_id": "ref-1", "case_id": "case-1", "text": "x" * 1400}  # ~1.5 KB body like the bench's


def _wait_listening(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def _posts(channel: Webhook, recipient: Recipient, n: int, profile: cProfile.Profile | None) -> float:
    for _ in range(100):  # warm: connection open, caches filled
        await channel.deliver(recipient, {"referral_id": "ref-1"}, DOC)
    if profile is not None:
        profile.enable()
    start = time.process_time()
    for _ in range(n):
        await channel.deliver(recipient, {"referral_id": "ref-1"}, DOC)
    cpu = time.process_time() - start
    if profile is not None:
        profile.disable()
    return cpu / n * 1e6


async def measure(port: int, posts: int, repeats: int, profile_to: str | None, *, tls: bool) -> dict[str, Any]:
    """µs of client CPU per POST, `repeats` times (one channel each, as the notifier keeps one)."""
    with tempfile.TemporaryDirectory() as secrets_dir:
        (Path(secrets_dir) / "webhook-r0").write_text("secret", encoding="utf-8")
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/hook"
        recipient = Recipient.model_validate(directory_entry("r0", {"type": "webhook", "url": url}))
        runs = []
        for i in range(repeats):
            channel = Webhook(Secrets(Path(secrets_dir)), timeout_seconds=10, verify_tls=not tls)
            profile = cProfile.Profile(time.process_time) if profile_to and i == repeats - 1 else None
            try:
                runs.append(await _posts(channel, recipient, posts, profile))
            finally:
                await channel.close()
            if profile is not None and profile_to:
                profile.dump_stats(profile_to)
    return {
        "posts": posts,
        "tls": tls,
        "us_per_post": [round(x, 1) for x in runs],
        "median_us_per_post": round(statistics.median(runs), 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> None:
    """Start the receiver, measure, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tls", action="store_true", help="HTTPS (self-signed receiver, verification off)")
    parser.add_argument("--profile", default=None, help="cProfile the last repeat into this file")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as cert_dir:
        cert = None
        if args.tls:
            from tests.support import certificates  # here: an older tree run for A/B may lack it (plain HTTP)

            cert = certificates.authority_and_server(Path(cert_dir), "localhost")[1]
        receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port), *([str(cert)] if cert else [])])
        try:
            _wait_listening(port)
            figures = asyncio.run(measure(port, args.posts, args.repeats, args.profile, tls=args.tls))
            print(json.dumps(figures))
        finally:
            receiver.terminate()
            receiver.wait()


if __name__ == "__main__":
    main()
