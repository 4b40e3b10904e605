"""A strict, bounded HTTP/1.x response parser: status, keep-alive and body framing from bytes fed in any pieces.

The body is counted, not kept (a webhook's answer is its status); past `body_limit` bytes reading stops and
the connection is not reused. A head over `head_limit` bytes, interim answers or trailers over `head_limit` bytes
in all, or anything off the grammar is `MalformedResponse`.
"""

from __future__ import annotations

import re

from referral_bus.errors import ReferralBusError

HEAD_LIMIT = 65536
BODY_LIMIT = 65536
CHUNK_LINE_LIMIT = 4096  # a chunk size with its extensions
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-5][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(rb"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


class MalformedResponse(ReferralBusError):
    """The server's answer is not a well-formed HTTP/1.x response (or exceeds our limits); retry later."""


class ResponseParser:
    """One response to a request (not HEAD); `done` once its body ended, `status` and `keep_alive` then valid."""

    def __init__(self, *, head_limit: int = HEAD_LIMIT, body_limit: int = BODY_LIMIT) -> None:
        self.head_limit = head_limit
        self.body_limit = body_limit
        self.status = 0
        self.keep_alive = False
        self.body_bytes = 0
        self._state = _HEAD
        self._buffer: bytes | bytearray = b""  # an incomplete head or line (a bytearray, grown in place)
        self._scanned = 0  # how much of it holds no line end (a trickled head is not rescanned from its start)
        self._left = 0  # bytes left in the body (Content-Length) or in the current chunk
        self._extra = 0  # bytes of interim answers and trailers so far (bounded by head_limit, each kind in all)

    @property
    def done(self) -> bool:
        """The whole response (or as much of its body as we read) has arrived."""
        return self._state == _DONE

    def feed(self, data: bytes) -> None:
        """The next bytes from the connection; raises `MalformedResponse` at the first byte off the grammar."""
        if self._state == _DONE:
            self.keep_alive = False  # bytes after the response: the connection is out of step, never reuse it
            return
        if self._buffer:
            self._buffer += data
            if self._state in (_HEAD, _CHUNK_SIZE, _TRAILERS) and not self._ends_line():
                return  # still incomplete and within its limit
            data = bytes(self._buffer)
            self._buffer = b""
        while data and self._state != _DONE:
            data = self._step(data)
        if data:
            self.keep_alive = False  # bytes after the response in the same piece: out of step as well

    def _ends_line(self) -> bool:
        """The buffer now holds the end of its head or line, or has grown past its limit (the slow path says which)."""
        buffer = self._buffer
        if buffer.find(b"\r\n\r\n" if self._state == _HEAD else b"\r\n", self._scanned) >= 0:
            return True
        self._scanned = max(0, len(buffer) - 3)
        state = self._state
        limit = self.head_limit + 3 if state == _HEAD else CHUNK_LINE_LIMIT if state == _CHUNK_SIZE else self.head_limit
        return len(buffer) > limit

    def eof(self) -> None:
        """The server closed the connection: the end of a body read until close, else `MalformedResponse`."""
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
        elif self._state != _DONE:
            raise MalformedResponse("the server closed the connection before its response ended")

    def _step(self, data: bytes) -> bytes:
        """Consume what the current state can from `data`; the rest (or b"" with the remainder buffered)."""
        state = self._state
        if state == _HEAD:
            return self._head(data)
        if state in (_LENGTH, _CHUNK_DATA):
            taken = min(self._left, len(data))
            self._left -= taken
            self._count(taken)
            if self._left == 0 and self._state != _DONE:
                self._state = _DONE if state == _LENGTH else _CHUNK_END
            return data[taken:]
        if state == _UNTIL_CLOSE:
            self._count(len(data))
            return b""
        if state == _CHUNK_END:
            if not b"\r\n".startswith(data[:2]):
                raise MalformedResponse("a chunk not followed by CRLF")
            if len(data) < 2:
                self._buffer = bytearray(data)
                return b""
            self._state = _CHUNK_SIZE
            return data[2:]
        line, rest = self._line(data, CHUNK_LINE_LIMIT if state != _TRAILERS else self.head_limit)
        if line is None:
            return b""
        if state == _CHUNK_SIZE:
            size = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size):
                raise MalformedResponse("a chunk size that is not hexadecimal")
            self._left = int(size, 16)
            self._state = _CHUNK_DATA if self._left else _TRAILERS
        elif not line:  # _TRAILERS: the empty line ends them
            self._state = _DONE
        else:
            self._bound(len(line) + 2, "trailers")
        return rest

    def _bound(self, n: int, what: str) -> None:
        """Count `n` more bytes of interim answers or trailers; past `head_limit` in all, `MalformedResponse`."""
        self._extra += n
        if self._extra > self.head_limit:
            raise MalformedResponse(f"{what} larger than {self.head_limit} bytes in all")

    def _line(self, data: bytes, limit: int) -> tuple[bytes | None, bytes]:
        """The next CRLF-ended line and what follows; (None, b"") with `data` kept if the line is not complete."""
        end = data.find(b"\r\n")
        if end < 0:
            if len(data) > limit:
                raise MalformedResponse(f"a response line longer than {limit} bytes")
            self._buffer, self._scanned = bytearray(data), max(0, len(data) - 3)
            return None, b""
        if end > limit:
            raise MalformedResponse(f"a response line longer than {limit} bytes")
        return data[:end], data[end + 2 :]

    def _head(self, data: bytes) -> bytes:
        end = data.find(b"\r\n\r\n")
        if end < 0 or end > self.head_limit:
            if end > self.head_limit or len(data) > self.head_limit + 3:
                raise MalformedResponse(f"a response head larger than {self.head_limit} bytes")
            self._buffer, self._scanned = bytearray(data), max(0, len(data) - 3)
            return b""
        lines = data[:end].split(b"\r\n")
        status = _STATUS_LINE.fullmatch(lines[0])
        if status is None:
            raise MalformedResponse("a status line that is not HTTP/1.0 or HTTP/1.1 with a 3-digit status")
        fields = _fields(lines)
        code = int(status[2])
        rest = data[end + 4 :]
        if code < 200:
            if code == 101:
                raise MalformedResponse("a protocol switch nobody asked for (HTTP 101)")
            self._bound(end + 4, "interim answers")
            return rest  # an interim answer (100 Continue, 103 Early Hints): the final one follows
        self.status = code
        connection = fields.get(b"connection", b"").lower()
        self.keep_alive = status[1] == b"1" and b"close" not in connection
        self._framing(code, fields)
        return rest

    def _framing(self, code: int, fields: dict[bytes, bytes]) -> None:
        """How the body ends (RFC 9112 §6.3): none, chunked, Content-Length, or the connection's close."""
        coding = fields.get(b"transfer-encoding")
        length = fields.get(b"content-length")
        if code in (204, 304):
            self._state = _DONE
        elif coding is not None:
            self._state = _CHUNK_SIZE if coding.rsplit(b",", 1)[-1].strip().lower() == b"chunked" else _UNTIL_CLOSE
            self.keep_alive = self.keep_alive and self._state == _CHUNK_SIZE and length is None
        elif length is not None:
            values = {v.strip() for v in length.split(b",")}
            if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
                raise MalformedResponse("a Content-Length that is not one decimal number")
            self._left = int(next(iter(values)))
            self._state = _LENGTH if self._left else _DONE
        else:
            self._state = _UNTIL_CLOSE
            self.keep_alive = False

    def _count(self, n: int) -> None:
        """Body bytes seen; past the limit reading stops and the connection is dropped."""
        self.body_bytes += n
        if self.body_bytes > self.body_limit:
            self._state = _DONE
            self.keep_alive = False


def _fields(lines: list[bytes]) -> dict[bytes, bytes]:
    """The header fields we act on (lower-case names); repeated ones joined by commas."""
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise MalformedResponse("a header line that is not `name: value` (or a folded continuation)")
        key = name.lower()
        if key in (b"content-length", b"transfer-encoding", b"connection"):
            value = value.strip(b" \t")
            fields[key] = fields[key] + b"," + value if key in fields else value
    return fields
