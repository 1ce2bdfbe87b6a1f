"""A small stand-in for Twilio's Messages API, for the outbound unit tests only.

It follows the sandbox's contract: basic auth, 201 Message JSON, Twilio error JSON for the
documented magic numbers, scripted faults (429 with Retry-After, 500, slow answers, each
before or after the message is created), and the Messages list with To/From/DateSent> and
paging, so a lost answer can be searched for.
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
# An API key the fake accepts as well as the account's own credentials.
API_KEYS = {"SK" + "2" * 32: "fake-api-key-secret"}
MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")

TO_ERRORS = {"+15005550001": 21211, "+15005550002": 21612, "+15005550003": 21408, "+15005550004": 21610, "+15005550009": 21614}
FROM_ERRORS = {"+15005550001": 21212, "+15005550007": 21606, "+15005550008": 21611}


@dataclass
class Fault:
    status: int
    count: int  # -1: until cleared
    retry_after: str | None = None
    delay: float = 0.0
    after_create: bool = False  # create the message, then answer the fault


@dataclass
class FakeTwilio:
    """The server's state: what it received and the faults still to serve."""

    url: str = ""
    requests: list[list[tuple[str, str]]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    connections: set[tuple[str, int]] = field(default_factory=set)
    delay: float = 0.0  # seconds every answer waits, to make requests overlap
    answered: list[float] = field(default_factory=list)  # time.monotonic() of each 201
    created: list[dict[str, Any]] = field(default_factory=list)  # every message created, oldest first
    lists: list[dict[str, str]] = field(default_factory=list)  # the query of each list request
    auth: list[str] = field(default_factory=list)  # each request's basic-auth "user:password"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int, count: int = 1, retry_after: str | None = None, delay: float = 0.0, after_create: bool = False) -> None:
        with self.lock:
            self.faults.append(Fault(status, count, retry_after, delay, after_create))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.lists.clear()

    def next_fault(self) -> Fault | None:
        with self.lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            if fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.pop(0)
            return fault

    def forms(self) -> list[dict[str, Any]]:
        """Each request's fields; MediaUrl as a list."""
        out = []
        for pairs in self.requests:
            form: dict[str, Any] = {k: v for k, v in pairs if k != "MediaUrl"}
            form["MediaUrl"] = [v for k, v in pairs if k == "MediaUrl"]
            out.append(form)
        return out


def _listed(message: dict[str, Any], query: dict[str, str]) -> bool:
    """Twilio's list filters: To, From, and DateSent> (on or after; the SDK sends ISO 8601)."""
    since = query.get("DateSent>")
    if since and datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp() > _epoch(message["date_sent"]):
        return False
    return all(query.get(name) in (None, message[key]) for name, key in (("To", "to"), ("From", "from")))


def _epoch(rfc2822: str) -> float:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(rfc2822).timestamp()


def _error(code: int, status: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be observed
    state: FakeTwilio

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self, account: str) -> bool:
        encoded = (self.headers.get("Authorization") or "Basic ").partition(" ")[2]
        with self.state.lock:
            self.state.auth.append(base64.b64decode(encoded).decode() if encoded else "")
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        keys = ["Basic " + base64.b64encode(f"{sid}:{secret}".encode()).decode() for sid, secret in API_KEYS.items()]
        return self.headers.get("Authorization") in [expected, *keys] and account == ACCOUNT_SID

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        match = MESSAGES.match(parts.path)
        if not match:
            self._send(404, _error(20404, 404, "The requested resource was not found"))
            return
        if not self._authorized(match.group(1)):
            self._send(401, _error(20003, 401, "Authenticate"))
            return
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self.state.lock:
            self.state.lists.append(query)
            found = [m for m in reversed(self.state.created) if _listed(m, query)]
        size, page = int(query.get("PageSize") or 50), int(query.get("Page") or 0)
        chunk = found[page * size:(page + 1) * size]
        more = len(found) > (page + 1) * size
        next_uri = parts.path + "?" + urlencode({**query, "Page": page + 1, "PageToken": f"PA{page + 1}"}) if more else None
        self._send(200, {"messages": chunk, "next_page_uri": next_uri, "page": page, "page_size": size, "start": page * size,
                         "end": page * size + max(len(chunk) - 1, 0), "uri": self.path, "first_page_uri": parts.path, "previous_page_uri": None})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        with self.state.lock:
            self.state.connections.add(self.client_address)
        match = MESSAGES.match(self.path)
        if not match:
            self._send(404, _error(20404, 404, "The requested resource was not found"))
            return
        if not self._authorized(match.group(1)):
            self._send(401, _error(20003, 401, "Authenticate"))
            return
        pairs = parse_qsl(raw, keep_blank_values=True)
        with self.state.lock:
            self.state.requests.append(pairs)
        time.sleep(self.state.delay)
        fault = self.state.next_fault()
        if fault is not None and not fault.after_create:
            time.sleep(fault.delay)
            self._fault(fault)
            return
        form = dict(pairs)
        magic = TO_ERRORS.get(form.get("To", "").removeprefix("whatsapp:")) or FROM_ERRORS.get(form.get("From", "").removeprefix("whatsapp:"))
        if magic:
            self._send(400, _error(magic, 400, f"magic number error {magic}"))
            return
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(timezone.utc), usegmt=True)
        message = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": form.get("To"),
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "num_segments": "1",
            "num_media": str(len([1 for k, _ in pairs if k == "MediaUrl"])),
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_sent": now,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }
        with self.state.lock:
            self.state.created.append(message)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status != 201:
                self._fault(fault)
                return
        with self.state.lock:
            self.state.answered.append(time.monotonic())
        self._send(201, message)

    def _fault(self, fault: Fault) -> None:
        code = 20429 if fault.status == 429 else 20500
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        self._send(fault.status, _error(code, fault.status, "scripted fault"), headers)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def running_fake_twilio() -> Iterator[FakeTwilio]:
    """Serve a FakeTwilio on a free local port for the duration of the block."""
    state = FakeTwilio()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # type: ignore[method-assign,assignment]  # a client that timed out
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
