"""Downloading one media item from Twilio: basic auth, redirects, a brief wait for a 404.

Twilio answers a media URL with a redirect to a signed copy on its CDN; the credentials
go only to Twilio's own https origin (an unredirected header), since the CDN refuses a request
that carries a second kind of auth. Media can 404 for a moment after the webhook
("not ready yet"), so a 404 is tried again until `not_ready_seconds` have passed.

All of it, waits and redirects included, fits one deadline, checked between reads: a
socket timeout alone bounds each read, and a server sending a byte a second never trips it.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO
from urllib.error import HTTPError, URLError

from carrier_core.digits import ascii_int
from carrier_core.media.sniff import HEAD_BYTES, sniff

CHUNK = 64 * 1024
# Files past this leave memory for a temporary file on the way to S3.
SPOOL_BYTES = 1024 * 1024
# A body cut short is fetched again this many times in all before the item fails.
CUT_ATTEMPTS = 2


class FetchFailed(Exception):
    """The item could not be downloaded; `reason` is a short code, never a URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Fetched:
    """A downloaded item, rewound, with what its bytes and headers say."""

    body: IO[bytes]
    size: int
    sha256: str
    header_type: str | None
    sniffed_type: str | None


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def download(
    url: str,
    credentials: tuple[str, str] | None,
    max_bytes: int,
    not_ready_seconds: float,
    deadline_seconds: float,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """The item at `url`; FetchFailed once it cannot be had (404 after the wait, too large,
    past `deadline_seconds`, ...). A stalled read may overrun the deadline by `timeout`."""
    started, delay, cuts = time.monotonic(), 0.25, 0
    deadline = started + deadline_seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchFailed("timeout")
        request = urllib.request.Request(url, method="GET")
        if credentials is not None:
            request.add_unredirected_header("Authorization", basic_auth(*credentials))
        try:
            # http(s) only: inbound refuses any other MediaUrl scheme at the webhook (400).
            with urllib.request.urlopen(request, timeout=min(timeout, remaining)) as response:  # nosec B310
                _check_length(response.headers.get("Content-Length"), max_bytes)
                return _spool(response, response.headers.get("Content-Type"), max_bytes, deadline)
        except HTTPError as exc:
            exc.close()
            now = time.monotonic()
            if exc.code == 404 and now - started + delay <= not_ready_seconds and now + delay < deadline:
                sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            raise FetchFailed(f"http_{exc.code}") from None
        except FetchFailed as exc:
            cuts += exc.reason == "truncated"
            if exc.reason == "truncated" and cuts < CUT_ATTEMPTS:
                continue
            raise
        except (URLError, OSError) as exc:
            # urllib wraps a connect timeout in URLError; one waiting for the status line is bare.
            cause = exc.reason if isinstance(exc, URLError) else exc
            raise FetchFailed("timeout" if isinstance(cause, TimeoutError) else f"unreachable:{type(exc).__name__}") from None
        except (http.client.InvalidURL, ValueError):  # a port that is not a number, say
            raise FetchFailed("bad_url") from None
        except http.client.HTTPException as exc:  # a status line or headers past reading
            raise FetchFailed(f"bad_response:{type(exc).__name__}") from None


def _check_length(declared: str | None, max_bytes: int) -> None:
    """http.client reads a Content-Length int() refuses as none at all, and would take the
    body up to the close: a length that is not plain digits fails the item instead."""
    if declared is None:
        return
    length = ascii_int(declared)
    if length is None:
        raise FetchFailed("bad_length")
    if length > max_bytes:
        raise FetchFailed("too_large")


def _spool(response: http.client.HTTPResponse, header_type: str | None, max_bytes: int, deadline: float) -> Fetched:
    body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (handed to the caller)
    try:
        size, digest, head = _copy_body(response, body, max_bytes, deadline)
    except BaseException:
        body.close()
        raise
    body.seek(0)
    declared = header_type.split(";", 1)[0].strip().lower() if header_type else None
    return Fetched(body, size, digest, declared, sniff(head))


def _copy_body(response: http.client.HTTPResponse, body: IO[bytes], max_bytes: int, deadline: float) -> tuple[int, str, bytes]:
    """Size, SHA-256 and first bytes of the response body, written to `body`."""
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        # read1: at most one recv, so the deadline is checked as bytes trickle in (read(n)
        # waits for all n bytes, however slowly they come).
        while chunk := response.read1(CHUNK):
            if time.monotonic() > deadline:
                raise FetchFailed("timeout")
            size += len(chunk)
            if size > max_bytes:
                raise FetchFailed("too_large")
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            digest.update(chunk)
            body.write(chunk)
    except (http.client.IncompleteRead, ConnectionError):  # a chunked body or a socket cut mid-way
        raise FetchFailed("truncated") from None
    except TimeoutError:  # a read stalled for the whole socket timeout
        raise FetchFailed("timeout") from None
    # read(n) and read1(n) answer b"" at a cut without raising (only read() raises IncompleteRead);
    # http.client still counts what Content-Length promised and never came.
    if response.length:
        raise FetchFailed("truncated")
    return size, digest.hexdigest(), head
