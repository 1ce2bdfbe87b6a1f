"""HTTP/1.1 framing for the local servers.

Every server reads Content-Length through content_length(): a length it will not wait for is
answered with a 4xx at once, never by waiting for bytes that do not come or by dropping the
connection. Each server words the answer in its own error format and then closes the
connection, so the unread body is never parsed as the next request. Below it, the reading
and writing of messages the DynamoDB proxy does over asyncio streams.
"""

from __future__ import annotations

import asyncio
import json

# API Gateway refuses a payload over 10 MB; the gateway in front of the services does too.
GATEWAY_MAX_BYTES = 10 * 1024 * 1024


class BodyRefused(Exception):
    """A request body the server will not read: `status` 400 (no length) or 413 (too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def content_length(value: str | None, limit: int) -> int:
    """The body length `value` announces (0 without the header); BodyRefused past `limit`."""
    if value is None:
        return 0
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise BodyRefused(400, "Content-Length is not a whole number")
    # int() refuses a string of more than 4,300 digits (ValueError), so the digits are
    # counted first: more significant digits than the limit has is more than the limit.
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(limit)) or int(significant) > limit:
        raise BodyRefused(413, f"The body may be at most {limit} bytes")
    if len(text) > len(str(limit)):
        # Zeros padding a small length: valid HTTP, but the servers behind would call int()
        # on the whole string and fail as above.
        raise BodyRefused(400, "Content-Length has more digits than a length it allows")
    return int(significant)


# The DynamoDB proxy's HTTP/1.1, over asyncio streams (devstack/dynamodb.py).


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    except asyncio.LimitOverrunError as exc:
        raise ValueError("request head too large") from exc
    return head


def parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int) -> bytes:
    """The message body, raw: by Content-Length, or every chunk of a chunked one; BodyRefused
    for a length that is no number or, with its chunks together, is more than `limit`."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            parts.append(size_line)
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                raise BodyRefused(400, "a chunk size is not a hexadecimal number") from None
            total += size
            if size < 0 or total > limit:
                raise BodyRefused(413 if size >= 0 else 400, f"The body may be at most {limit} bytes")
            if size == 0:
                parts.append(await reader.readuntil(b"\r\n"))  # no trailers from either side
                return b"".join(parts)
            parts.append(await reader.readexactly(size + 2))
    length = content_length(headers.get("content-length"), limit)
    return await reader.readexactly(length) if length else b""


async def send(
    writer: asyncio.StreamWriter, status: int, payload: object, content_type: str = "application/json", close: bool = False
) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    reason = {
        200: "OK",
        400: "Bad Request",
        404: "Not Found",
        413: "Content Too Large",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }[status]
    connection = "Connection: close\r\n" if close else ""
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{connection}\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
