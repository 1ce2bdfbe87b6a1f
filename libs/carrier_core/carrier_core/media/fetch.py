"""Downloading one media item from Twilio: basic auth, redirects, a brief wait for a 404.

Twilio answers a media URL with a redirect to a signed copy on its CDN; the credentials
go only to Twilio's own https origin (an unredirected header), since the CDN refuses a request
that carries a second kind of auth. Media can 404 for a moment after the webhook
("not ready yet"), so a 404 is tried again until `not_ready_seconds` have passed.
"""
from __future__ import annotations

import base64
import hashlib
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO
from urllib.error import HTTPError, URLError

from carrier_core.media.sniff import HEAD_BYTES, sniff

CHUNK = 64 * 1024
# Files past this leave memory for a temporary file on the way to S3.
SPOOL_BYTES = 1024 * 1024


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
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """The item at `url`; FetchFailed once it cannot be had (404 after the wait, too large, ...)."""
    started, delay = time.monotonic(), 0.25
    while True:
        request = urllib.request.Request(url, method="GET")
        if credentials is not None:
            request.add_unredirected_header("Authorization", basic_auth(*credentials))
        try:
            # http(s) only: inbound refuses any other MediaUrl scheme at the webhook (400).
            with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310
                return _spool(response, response.headers.get("Content-Type"), max_bytes)
        except HTTPError as exc:
            exc.close()
            if exc.code == 404 and time.monotonic() - started + delay <= not_ready_seconds:
                sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            raise FetchFailed(f"http_{exc.code}") from None
        except (URLError, OSError) as exc:
            raise FetchFailed(f"unreachable:{type(exc).__name__}") from None


def _spool(response: IO[bytes], header_type: str | None, max_bytes: int) -> Fetched:
    body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (handed to the caller)
    digest, size, head = hashlib.sha256(), 0, b""
    while chunk := response.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            body.close()
            raise FetchFailed("too_large")
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        digest.update(chunk)
        body.write(chunk)
    body.seek(0)
    declared = header_type.split(";", 1)[0].strip().lower() if header_type else None
    return Fetched(body, size, digest.hexdigest(), declared, sniff(head))
