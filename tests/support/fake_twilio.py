"""A small stand-in for Twilio's Messages API, for the outbound unit tests only.

It follows the sandbox's contract: basic auth, 201 Message JSON, Twilio error JSON for the
documented magic numbers, and scripted faults (429 with Retry-After, 500, slow answers).
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
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")

TO_ERRORS = {"+15005550001": 21211, "+15005550002": 21612, "+15005550003": 21408, "+15005550004": 21610, "+15005550009": 21614}
FROM_ERRORS = {"+15005550001": 21212, "+15005550007": 21606, "+15005550008": 21611}


@dataclass
class Fault:
    status: int
    count: int  # -1: until cleared
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class FakeTwilio:
    """The server's state: what it received and the faults still to serve."""

    url: str = ""
    requests: list[list[tuple[str, str]]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    connections: set[tuple[str, int]] = field(default_factory=set)
    delay: float = 0.0  # seconds every answer waits, to make requests overlap
    answered: list[float] = field(default_factory=list)  # time.monotonic() of each 201
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int, count: int = 1, retry_after: str | None = None, delay: float = 0.0) -> None:
        with self.lock:
            self.faults.append(Fault(status, count, retry_after, delay))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()

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

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        with self.state.lock:
            self.state.connections.add(self.client_address)
        match = MESSAGES.match(self.path)
        if not match:
            self._send(404, _error(20404, 404, "The requested resource was not found"))
            return
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected or match.group(1) != ACCOUNT_SID:
            self._send(401, _error(20003, 401, "Authenticate"))
            return
        pairs = parse_qsl(raw, keep_blank_values=True)
        with self.state.lock:
            self.state.requests.append(pairs)
        time.sleep(self.state.delay)
        fault = self.state.next_fault()
        if fault is not None:
            time.sleep(fault.delay)
            code = 20429 if fault.status == 429 else 20500
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._send(fault.status, _error(code, fault.status, "scripted fault"), headers)
            return
        form = dict(pairs)
        magic = TO_ERRORS.get(form.get("To", "").removeprefix("whatsapp:")) or FROM_ERRORS.get(form.get("From", "").removeprefix("whatsapp:"))
        if magic:
            self._send(400, _error(magic, 400, f"magic number error {magic}"))
            return
        sid = "SM" + uuid.uuid4().hex
        with self.state.lock:
            self.state.answered.append(time.monotonic())
        self._send(
            201,
            {
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
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            },
        )

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
