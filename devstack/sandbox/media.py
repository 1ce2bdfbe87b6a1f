"""Media hosting the way Twilio serves an MMS's media, so inbound MMS can be simulated.

Twilio's routes (basic auth as the path's account, like every other route; an item belongs to
the account it was hosted under, and is unknown under any other):
  GET    /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}       307 to a short-lived,
         unauthenticated copy (Twilio redirects to its CDN the same way)
  GET    /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}.json  the Media resource
  GET    /2010-04-01/Accounts/{AC}/Messages/{MM}/Media.json       the message's Media list
         (`media_list`, one page: a message has at most 10)
  DELETE /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}.json  204; later GETs are 404
Control API (no auth; not Twilio's):
  POST /_sandbox/media?message_sid=MM…&not_ready=N&account_sid=AC…
       raw bytes + Content-Type -> 201 {"url", …}
       not_ready: the first N authenticated GETs answer 404 (Twilio's "not ready yet");
       -1: always 404 (gone). account_sid: a hosted account (default: the sandbox's first)
  GET  /_sandbox/media            every hosted item: sid, sizes, GETs served, deleted
  GET  /_sandbox/media/{ME}/content   the bytes the redirect points at
  GET  /_sandbox/media/sample.png     a small PNG made here, always there: an MMS's media
       for a quick try (`omni-twilio simulate inbound --media <it>`) with no network
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import struct
import threading
import weakref
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from devstack.sandbox import errors
from devstack.sandbox.errors import TwilioApiError
from devstack.sandbox.messages import API_VERSION

if TYPE_CHECKING:
    from devstack.sandbox.server import Sandbox

# Twilio accepts MMS media up to 5 MB and WhatsApp documents up to 16 MB; room for both.
MAX_MEDIA_BYTES = 20 * 1024 * 1024
MEDIA = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media/(?P<sid>ME[0-9a-f]{{32}})(?P<json>\.json)?$"
)
MEDIA_LIST = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media\.json$")
CONTENT = re.compile(r"^/_sandbox/media/(?P<sid>ME[0-9a-f]{32})/content$")
SAMPLE = "/_sandbox/media/sample.png"
MESSAGE_SID = re.compile(r"^(MM|SM)[0-9a-f]{32}$")


@dataclass
class HostedMedia:
    sid: str
    account_sid: str
    message_sid: str
    content_type: str
    data: bytes
    created: datetime
    not_ready: int = 0
    gets: int = 0
    deleted: bool = False

    def path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.message_sid}/Media/{self.sid}"

    def resource(self) -> dict[str, Any]:
        stamp = format_datetime(self.created, usegmt=True)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "parent_sid": self.message_sid,
            "content_type": self.content_type,
            "date_created": stamp,
            "date_updated": stamp,
            "uri": self.path() + ".json",
        }

    def summary(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "message_sid": self.message_sid,
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
            "gets": self.gets,
            "deleted": self.deleted,
        }


class MediaStore:
    """Every hosted item of one sandbox."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, HostedMedia] = {}

    def add(self, account_sid: str, message_sid: str, content_type: str, data: bytes, not_ready: int) -> HostedMedia:
        item = HostedMedia(
            "ME" + secrets.token_hex(16), account_sid, message_sid, content_type, data, datetime.now(timezone.utc), not_ready
        )
        with self.lock:
            self.items[item.sid] = item
        return item

    def fetch(self, sid: str, path: str, count: bool, account: str | None = None) -> HostedMedia:
        """The item, or Twilio's 20404 when unknown, another account's (`account` None: any
        account's), deleted or (still) not ready."""
        with self.lock:
            item = self.items.get(sid)
            if item is None or item.deleted or (account is not None and item.account_sid != account):
                raise errors.not_found(path)
            if count:
                item.gets += 1
                if item.not_ready:
                    if item.not_ready > 0:
                        item.not_ready -= 1
                    raise errors.not_found(path)
            return item

    def of_message(self, account: str, message_sid: str) -> list[HostedMedia]:
        """The message's hosted items, oldest first, deleted ones left out."""
        with self.lock:
            found = [i for i in self.items.values() if i.account_sid == account and i.message_sid == message_sid and not i.deleted]
        return sorted(found, key=lambda i: i.created)

    def delete(self, sid: str, path: str, account: str) -> None:
        with self.lock:
            item = self.items.get(sid)
            if item is None or item.deleted or item.account_sid != account:
                raise errors.not_found(path)
            item.deleted = True
            item.data = b""


_stores: weakref.WeakKeyDictionary[Sandbox, MediaStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def store_of(sandbox: Sandbox) -> MediaStore:
    with _stores_lock:
        return _stores.setdefault(sandbox, MediaStore())


def handles(path: str) -> bool:
    """Whether `path` is one of the media routes (served by `dispatch`)."""
    return path in ("/_sandbox/media", SAMPLE) or bool(CONTENT.match(path) or MEDIA.match(path) or MEDIA_LIST.match(path))


def dispatch(handler: BaseHTTPRequestHandler, sandbox: Sandbox, method: str) -> None:
    """Answer one media request; every answer goes through `send`."""
    parts = urlsplit(handler.path)
    path, store = parts.path, store_of(sandbox)
    try:
        if path == "/_sandbox/media" and method == "POST":
            _host(handler, sandbox, store, parse_qs(parts.query))
        elif path == "/_sandbox/media" and method == "GET":
            with store.lock:
                send(handler, 200, [i.summary() for i in store.items.values()])
        elif (match := CONTENT.match(path)) and method == "GET":
            item = store.fetch(match["sid"], path, count=False)
            send(handler, 200, item.data, item.content_type)
        elif path == SAMPLE and method == "GET":
            send(handler, 200, sample_png(), "image/png")
        elif (match := MEDIA_LIST.match(path)) and method == "GET":
            sandbox.authorize(handler.headers.get("Authorization"), match["account"], path)
            send(handler, 200, media_list(path, [i.resource() for i in store.of_message(match["account"], match["message"])]))
        elif match := MEDIA.match(path):
            account = match["account"]
            sandbox.authorize(handler.headers.get("Authorization"), account, path)
            if method == "DELETE":
                store.delete(match["sid"], path, account)
                send(handler, 204, None)
            elif method == "GET" and match["json"]:
                send(handler, 200, store.fetch(match["sid"], path, count=False, account=account).resource())
            elif method == "GET":
                item = store.fetch(match["sid"], path, count=True, account=account)
                send(handler, 307, None, headers={"Location": f"/_sandbox/media/{item.sid}/content"})
            else:
                raise errors.not_found(path)
        else:
            raise errors.not_found(path)
    except TwilioApiError as exc:
        send(handler, exc.status, exc.body(), headers=exc.headers)


def media_list(path: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """One page holding every item, shaped as Twilio's ListMediaResponse."""
    uri = f"{path}?PageSize=50&Page=0"
    return {
        "media_list": resources,
        "start": 0,
        "end": max(len(resources) - 1, 0),
        "page": 0,
        "page_size": 50,
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
    }


def _host(handler: BaseHTTPRequestHandler, sandbox: Sandbox, store: MediaStore, query: dict[str, list[str]]) -> None:
    length = int(handler.headers.get("Content-Length") or 0)
    if length > MAX_MEDIA_BYTES:
        handler.close_connection = True
        raise TwilioApiError(413, 20001, f"Media exceeds {MAX_MEDIA_BYTES} bytes")
    data = handler.rfile.read(length) if length else b""
    content_type = handler.headers.get("Content-Type") or "application/octet-stream"
    message_sid = (query.get("message_sid") or ["MM" + secrets.token_hex(16)])[0]
    if not MESSAGE_SID.match(message_sid):
        raise errors.invalid(20001, "message_sid must be MM or SM followed by 32 hex digits")
    try:
        not_ready = int((query.get("not_ready") or ["0"])[0])
    except ValueError:
        raise errors.invalid(20001, "not_ready must be a whole number, -1 for always") from None
    account = (query.get("account_sid") or [sandbox.account_sid])[0]
    if sandbox.accounts.get(account) is None:
        raise errors.invalid(20001, "account_sid must be an account the sandbox hosts (POST /_sandbox/accounts adds one)")
    item = store.add(account, message_sid, content_type, data, not_ready)
    address: Any = handler.server.server_address
    send(handler, 201, {"url": f"http://{address[0]!s}:{address[1]}{item.path()}", **item.summary()})


def send(
    handler: BaseHTTPRequestHandler, status: int, payload: Any, content_type: str | None = None, headers: dict[str, str] | None = None
) -> None:
    if isinstance(payload, bytes):
        body = payload
    else:
        import json

        body = b"" if payload is None else json.dumps(payload).encode()
        content_type = "application/json; charset=utf-8"
    handler.send_response(status)
    handler.send_header("Content-Type", content_type or "application/octet-stream")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


@functools.cache
def sample_png(size: int = 64) -> bytes:
    """A `size`-pixel square PNG (a blue disc on a warm gradient), made with zlib alone, so
    the sample needs no file and no image library."""
    rows = []
    for y in range(size):
        row = bytearray(b"\0")  # filter type 0 for each scanline
        for x in range(size):
            inside = (x - size / 2 + 0.5) ** 2 + (y - size / 2 + 0.5) ** 2 <= (size / 3) ** 2
            row += bytes((30, 90, 200) if inside else (255, 160 + y * 80 // size, 60 + x * 120 // size))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
