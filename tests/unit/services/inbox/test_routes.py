"""A form body through a real aiohttp server: capped at INBOX_MAX_FORM_BYTES however it is sent, then parsed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from services.inbox.routes import to_request
from services.inbox.web import Reply

LIMIT = 512


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[str]:
    """A local aiohttp server on a free port whose one route answers what `to_request` made of the request."""

    async def echo(request: web.Request) -> web.Response:
        got = await to_request(request, max_form_bytes=LIMIT)
        if isinstance(got, Reply):
            return web.Response(status=got.status, text=got.body)
        return web.json_response({"form": dict(got.form)})

    app = web.Application()
    app.router.add_post("/form", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/form"
    finally:
        await runner.cleanup()


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def _post(url: str, data: Any, content_type: str = "application/x-www-form-urlencoded") -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=data, headers={"Content-Type": content_type}) as resp:
            is_json = resp.content_type == "application/json"
            return resp.status, await (resp.json() if is_json else resp.text())


def _form(size: int) -> bytes:
    """A url-encoded form of exactly `size` bytes (at least 6)."""
    return b"csrf=" + b"x" * (size - 5)


@pytest.mark.parametrize("size", [6, LIMIT - 1, LIMIT, LIMIT + 1, 4 * LIMIT, 1024 * 1024])
@pytest.mark.parametrize("chunked", [False, True])
async def test_a_form_over_the_cap_is_refused_with_or_without_content_length(size: int, chunked: bool) -> None:
    body = _form(size)
    async with serving() as url:
        status, answer = await _post(url, _chunks(body, 100) if chunked else body)
    if size > LIMIT:
        assert status == 413
        assert answer == f"form larger than {LIMIT} bytes (INBOX_MAX_FORM_BYTES)"
    else:
        assert status == 200
        assert answer == {"form": {"csrf": "x" * (size - 5)}}


async def test_a_chunked_form_is_parsed_like_one_with_content_length() -> None:
    body = b"csrf=t%C3%B4i&empty=&lang=vi&lang=en"
    async with serving() as url:
        assert await _post(url, _chunks(body, 3)) == (200, {"form": {"csrf": "tôi", "empty": "", "lang": "en"}})
        assert await _post(url, body) == (200, {"form": {"csrf": "tôi", "empty": "", "lang": "en"}})


async def test_a_form_not_utf8_or_not_urlencoded_is_refused_or_empty() -> None:
    multipart = b'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nx\r\n--b--\r\n'
    async with serving() as url:
        assert await _post(url, b"csrf=\xff\xfe") == (400, "the form must be UTF-8")
        status, answer = await _post(url, _chunks(multipart, 7), "multipart/form-data; boundary=b")
        assert (status, answer) == (415, "a form must be sent url-encoded (application/x-www-form-urlencoded)")
        assert await _post(url, b"csrf=x", "application/octet-stream") == (200, {"form": {}})
