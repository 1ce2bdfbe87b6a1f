"""Outbound media, checked and converted before Twilio sees them.

Each media_urls item is probed (HEAD, falling back to a ranged GET) side by side within
one time budget. Every connection goes to an address checked by the SSRF guard and pinned
for that connection (a name that resolves to a public address, then to 127.0.0.1 for the
connect, gets nowhere), and every redirect is checked again. Types and sizes follow
Twilio's MMS limits (https://www.twilio.com/docs/messaging/guides/accepted-mime-types):
JPEG/PNG/GIF up to 5 MB go as they are; WebP/BMP/TIFF, and images over 5 MB, become a
JPEG that fits (Pillow), stored in the media bucket and sent as a presigned link; other
supported types go as they are up to 500 KB; all of a message's media at most 5 MB.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from carrier_core.digits import ascii_int
from carrier_core.errors import (
    MediaResponseInvalid,
    MediaTooLarge,
    MediaUnreachable,
    MediaUrlForbidden,
    StorageUnavailable,
    UnsupportedMediaType,
)
from carrier_core.media.addresses import forbidden
from carrier_core.media.sniff import HEAD_BYTES, sniff
from carrier_core.media.storage import presigned_get, s3_client, stored_url
from carrier_core.settings import Settings

from chalicelib.prepared import PreparedMedia, SentMedia

log = logging.getLogger(__name__)

MB = 1024 * 1024
IMAGE_LIMIT = 5 * MB
OTHER_LIMIT = 500 * 1024
MESSAGE_LIMIT = 5 * MB
SOURCE_LIMIT = 25 * MB  # the largest image we download to convert
CHECK_SECONDS = 10.0
MAX_REDIRECTS = 3
SENT_LINK_SECONDS = 24 * 3600  # Twilio fetches at send time; a retried send later the same day
MAX_SIDE = 2048
MAX_PIXELS = 60_000_000  # a 59-megapixel one-bit TIFF, made RGBA then RGB, peaks at 663 MB of 1,024
PASS_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif"})
CONVERT_IMAGES = frozenset({"image/webp", "image/bmp", "image/x-ms-bmp", "image/tiff"})
OTHER_TYPES = frozenset(
    {
        "application/pdf",
        "text/vcard",
        "text/x-vcard",
        "text/directory",
        "text/calendar",
        "text/csv",
        "text/plain",
        "text/rtf",
        "text/richtext",
        "application/vcard",
        "application/rtf",
    }
)
OTHER_PREFIXES = ("audio/", "video/")


@dataclass(frozen=True)
class Probed:
    """What a URL says it serves: its type (sniffed first bytes win over the header) and size."""

    url: str
    content_type: str | None
    size: int | None


def prepare_media(urls: tuple[str, ...], settings: Settings, s3: Any = None) -> PreparedMedia:
    """Check every URL, convert what must be; raises a taxonomy error and sends nothing."""
    if not urls:
        return PreparedMedia()
    deadline = time.monotonic() + CHECK_SECONDS
    probed = _all(lambda url: probe(url, settings, deadline), urls)
    plans = [_classify(p) for p in probed]
    kept = sum(p.size or 0 for p, convert in zip(probed, plans) if not convert)
    converting = sum(plans)
    if kept > MESSAGE_LIMIT or (converting and MESSAGE_LIMIT - kept < converting * 64 * 1024):
        raise MediaTooLarge(f"media_urls total {kept} bytes; Twilio takes at most {MESSAGE_LIMIT} per message")
    budget = (MESSAGE_LIMIT - kept) // converting if converting else 0
    client = s3 or (s3_client(settings.region) if converting else None)
    items = _all(
        lambda pair: (
            _convert(pair[0], settings, client, min(IMAGE_LIMIT, budget), deadline)
            if pair[1]
            else SentMedia(pair[0].url, pair[0].content_type, pair[0].size, pair[0].url)
        ),
        list(zip(probed, plans)),
    )
    log.info("media checked", extra={"items": len(items), "converted": converting})
    return PreparedMedia(tuple(items))


def _all(work: Callable[[Any], Any], inputs: Any) -> list[Any]:
    """Run `work` on each input side by side; the first failure (in order) is raised.

    The wait is bounded: a server that trickles bytes past the budget is left to its
    socket timeout in the background, the request answers without it.
    """
    inputs = list(inputs)
    pool = ThreadPoolExecutor(max_workers=min(len(inputs), 10))
    try:
        futures = [pool.submit(work, i) for i in inputs]
        _, pending = wait(futures, timeout=CHECK_SECONDS + 5)
        if pending:
            raise MediaUnreachable(f"media_urls did not answer within {CHECK_SECONDS:g} seconds")
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _classify(p: Probed) -> bool:
    """True when the item must be converted; raises when it cannot go at all."""
    ctype, size = p.content_type, p.size
    if ctype in PASS_IMAGES:
        return size is None or size > IMAGE_LIMIT
    if ctype in CONVERT_IMAGES:
        return True
    if ctype in OTHER_TYPES or (ctype or "").startswith(OTHER_PREFIXES):
        if size is None:
            raise MediaUnreachable(f"{_where(p.url)} does not tell its size")
        if size > OTHER_LIMIT:
            raise MediaTooLarge(f"{_where(p.url)} is {size} bytes; Twilio takes {ctype} up to {OTHER_LIMIT}")
        return False
    raise UnsupportedMediaType(f"{_where(p.url)} is {ctype or 'of no known type'}, which MMS does not carry")


def _where(url: str) -> str:
    """A URL without its query (which may hold a signature) for error messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{parts.path}"


# ---- fetching through the guard ---------------------------------------------------------


def resolve(host: str, port: int, guard: bool) -> str:
    """One address of `host` to connect to; MediaUrlForbidden if any address is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise MediaUnreachable(f"{host} does not resolve") from exc
    addresses = [str(info[4][0]) for info in infos]
    if guard and any(forbidden(a) for a in addresses):
        raise MediaUrlForbidden(f"{host} resolves to an address media may not come from")
    return addresses[0]


def open_url(method: str, url: str, settings: Settings, deadline: float, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """The response to `method url`, redirects followed, every hop checked and pinned."""
    next_url = url
    for _ in range(MAX_REDIRECTS + 1):
        url, parts, explicit_port = _hop(url, next_url)
        allowed = ("https", "http") if settings.is_local else ("https",)
        if parts.scheme not in allowed or not parts.hostname:
            raise MediaUrlForbidden(f"{_where(url)}: media must be an https URL")
        port = explicit_port or (443 if parts.scheme == "https" else 80)
        address = resolve(parts.hostname, port, settings.ssrf_guard)
        timeout = max(0.1, deadline - time.monotonic())
        conn: http.client.HTTPConnection = (http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection)(
            parts.hostname, port, timeout=timeout
        )
        # Connect to the address just checked; TLS still verifies the certificate of the name.
        # (http.client's own hook, not in its type stubs; `address` is bound now, for this try)
        pinned = lambda addr, *args, address=address: socket.create_connection((address, addr[1]), *args)  # noqa: E731
        setattr(conn, "_create_connection", pinned)  # noqa: B010
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, headers={"User-Agent": "omni-twilio-media-check", **(headers or {})})
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise MediaUnreachable(f"{_where(url)} did not answer ({type(exc).__name__})") from exc
        location = response.getheader("Location")
        if response.status in (301, 302, 303, 307, 308) and location:
            response.read()
            conn.close()
            next_url = location
            continue
        return response
    raise MediaUnreachable(f"{_where(url)} redirects more than {MAX_REDIRECTS} times")


def _hop(url: str, location: str) -> tuple[str, SplitResult, int | None]:
    """`location` resolved against `url`, split, and its explicit port.

    The caller's URL was parsed by the request's checks; a redirect's Location is the media
    server's, and an unclosed "[" or a port of 99999 makes urljoin or .port raise ValueError.
    """
    try:
        joined = urljoin(url, location)
        parts = urlsplit(joined)
        return joined, parts, parts.port
    except ValueError as exc:
        raise MediaUnreachable("a media URL redirects to a URL that cannot be parsed") from exc


def probe(url: str, settings: Settings, deadline: float) -> Probed:
    """HEAD, and a ranged GET when HEAD is refused or leaves the type or size out."""
    response = open_url("HEAD", url, settings, deadline)
    response.read()
    header_type, size = _type_of(response.getheader("Content-Type")), _length(response.getheader("Content-Length"), url)
    if (
        response.status < 300
        and header_type
        and size is not None
        and header_type not in ("application/octet-stream", "binary/octet-stream")
    ):
        return Probed(url, header_type, size)
    response = open_url("GET", url, settings, deadline, {"Range": f"bytes=0-{HEAD_BYTES - 1}"})
    try:
        if response.status >= 300:
            raise MediaUnreachable(f"{_where(url)} answered {response.status}")
        head = response.read(HEAD_BYTES)
    finally:
        response.close()
    total = response.getheader("Content-Range", "").rpartition("/")[2]
    size = _length(None if total == "*" else total, url) if response.status == 206 else _length(response.getheader("Content-Length"), url)
    return Probed(url, sniff(head) or _type_of(response.getheader("Content-Type")), size)


def _type_of(header: str | None) -> str | None:
    return header.split(";", 1)[0].strip().lower() or None if header else None


def _length(raw: str | None, url: str) -> int | None:
    """A length header's value; None when it is absent, refused when it is not a plain number."""
    if not raw:
        return None
    value = ascii_int(raw)
    if value is None:
        raise MediaResponseInvalid(f"{_where(url)} sent a length that is not a number")
    return value


def download(url: str, settings: Settings, deadline: float, limit: int) -> bytes:
    response = open_url("GET", url, settings, deadline)
    try:
        if response.status >= 300:
            raise MediaUnreachable(f"{_where(url)} answered {response.status}")
        body = response.read(limit + 1)
        # read(n) answers short at a cut without raising; http.client still counts
        # what Content-Length promised and never came (past the limit it is owed anyway).
        if response.length and len(body) <= limit:
            raise MediaUnreachable(f"{_where(url)} ended before the length it declared")
    except (http.client.HTTPException, ConnectionError) as exc:  # a chunked body cut, a reset
        raise MediaUnreachable(f"{_where(url)} ended before the whole body came") from exc
    finally:
        response.close()
    if len(body) > limit:
        raise MediaTooLarge(f"{_where(url)} is over {limit} bytes")
    return body


# ---- converting -------------------------------------------------------------------------


def to_jpeg(source: bytes, limit: int) -> bytes:
    """A JPEG of `source` within `limit` bytes: at most MAX_SIDE pixels a side, smaller and
    lower quality until it fits. Pillow is imported here, so a send without media never loads it."""
    from PIL import Image, ImageOps

    # Pillow raises only above twice this (between 1x and 2x it warns and decodes): a
    # 119-megapixel TIFF of 170 KB peaked at 1.3 GB. So the header's size is checked here,
    # after open() (which reads only the header) and before anything decodes pixels.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(source)) as opened:
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise MediaTooLarge(f"the image is {width}x{height} pixels; at most {MAX_PIXELS} are converted")
            image = ImageOps.exif_transpose(opened)
            image.load()
    except Image.DecompressionBombError as exc:
        raise MediaTooLarge("the image has too many pixels to convert") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnsupportedMediaType("the image cannot be decoded") from exc
    if image.mode != "RGB":
        # Transparent pixels on white, as a phone shows a PNG sticker; JPEG has no alpha.
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    side, quality = MAX_SIDE, 85
    while True:
        image.thumbnail((side, side))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
        if out.tell() <= limit:
            return out.getvalue()
        if side <= 320:
            raise MediaTooLarge("the image does not fit the size limit even scaled down")
        side, quality = int(side * 0.75), max(60, quality - 10)


def _convert(probed: Probed, settings: Settings, s3: Any, limit: int, deadline: float) -> SentMedia:
    if probed.size is not None and probed.size > SOURCE_LIMIT:
        raise MediaTooLarge(f"{_where(probed.url)} is {probed.size} bytes; at most {SOURCE_LIMIT} are converted")
    source = download(probed.url, settings, deadline, SOURCE_LIMIT)
    actual = sniff(source[:HEAD_BYTES]) or probed.content_type
    if actual in PASS_IMAGES and len(source) <= min(IMAGE_LIMIT, limit):
        return SentMedia(probed.url, actual, len(source), probed.url)  # the size was not told
    if actual not in PASS_IMAGES | CONVERT_IMAGES:
        raise UnsupportedMediaType(f"{_where(probed.url)} is {actual or 'of no known type'}, which MMS does not carry")
    jpeg = to_jpeg(source, limit)
    key = f"outbound/{uuid.uuid4().hex}.jpg"
    digest = hashlib.sha256(jpeg).hexdigest()
    try:
        s3.put_object(Bucket=settings.media_bucket, Key=key, Body=jpeg, ContentType="image/jpeg", Metadata={"sha256": digest})
    except Exception as exc:  # the bucket: nothing was sent, the caller may try again
        raise StorageUnavailable("the media bucket did not take the converted image") from exc
    stored = stored_url(settings.media_bucket, key)
    link = presigned_get(s3, stored, SENT_LINK_SECONDS)
    return SentMedia(probed.url, actual, len(source), link, "image/jpeg", stored, len(jpeg), digest)
