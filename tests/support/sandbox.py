"""Drive the Twilio sandbox: a Twilio SDK client aimed at it and a receiver for its callbacks."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import Sandbox, SandboxServer, start

ROOT = Path(__file__).resolve().parents[2]
# Twilio's own OpenAPI specs, from the npm package @twilio-alpha/mcp that package.json pins
# (`make install` runs npm ci): the Messages API's spec is the contract tests' oracle.
TWILIO_SPECS = ROOT / "node_modules" / "@twilio-alpha" / "mcp" / "twilio-oai" / "spec" / "json"
TWILIO_SPEC = TWILIO_SPECS / "twilio_api_v2010.json"


def twilio_client(base_url: str, account_sid: str, auth_token: str, http_client: TwilioHttpClient | None = None) -> Client:
    """A real `twilio.rest.Client` whose Messages API calls go to `base_url`.

    The SDK rewrites request hosts when an edge or region is set (argument or TWILIO_EDGE /
    TWILIO_REGION), which would turn 127.0.0.1 into nonsense; both are cleared after
    construction because `environment={}` is falsy and falls back to os.environ.
    """
    client = Client(account_sid, auth_token, http_client=http_client)
    client.edge = None
    client.region = None
    client.api.base_url = base_url.rstrip("/")
    return client


@dataclass(frozen=True)
class Received:
    """One request the receiver got: what a webhook handler would see."""

    path: str
    headers: dict[str, str]
    pairs: list[tuple[str, str]]

    @property
    def form(self) -> dict[str, str]:
        return dict(self.pairs)


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        receiver = cast(_ReceiverServer, self.server).receiver
        length = int(self.headers.get("Content-Length") or 0)
        pairs = parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
        status = receiver.record(Received(self.path, dict(self.headers.items()), pairs))
        body = json.dumps({"ok": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: CallbackReceiver


class CallbackReceiver:
    """A tiny local webhook: records every POST; answers 500 to the first `fail_first` ones."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail_first = 0
        self._lock = threading.Lock()
        self._server = _ReceiverServer(("127.0.0.1", 0), _ReceiverHandler)
        self._server.receiver = self
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def record(self, request: Received) -> int:
        with self._lock:
            self.received.append(request)
            if self.fail_first > 0:
                self.fail_first -= 1
                return 500
        return 200

    def for_sid(self, sid: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.form.get("MessageSid") == sid]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def running_sandbox(callback_delay: float = 0.01) -> Iterator[SandboxServer]:
    """An in-process sandbox on a free port with the local credentials, shut down afterwards."""
    server = start(Sandbox(LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, callback_delay=callback_delay))
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def callback_receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


def message_schema() -> dict[str, Any]:
    """Twilio's api.v2010.account.message schema, its $refs resolvable, from the OpenAPI spec."""
    spec = json.loads(TWILIO_SPEC.read_text())
    return {"$ref": "#/components/schemas/api.v2010.account.message", "components": spec["components"]}
