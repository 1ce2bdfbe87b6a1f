"""Drive the Twilio sandbox: a Twilio SDK client aimed at it and a receiver for its callbacks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import Sandbox, SandboxServer, start

ROOT = Path(__file__).resolve().parents[2]
# Twilio's own OpenAPI specs, from the npm package @twilio-alpha/mcp that package.json pins
# (`make install` runs npm ci): the Messages API's spec is the contract tests' oracle.
TWILIO_SPECS = ROOT / "node_modules" / "@twilio-alpha" / "mcp" / "twilio-oai" / "spec" / "json"
TWILIO_SPEC = TWILIO_SPECS / "twilio_api_v2010.json"
# Messaging v1 (Messaging Services), which the sandbox serves under its own origin.
TWILIO_MESSAGING_SPEC = TWILIO_SPECS / "twilio_messaging_v1.json"


def twilio_client(base_url: str, account_sid: str, auth_token: str, http_client: TwilioHttpClient | None = None) -> Client:
    """A real `twilio.rest.Client` whose Messages API (and Messaging v1) calls go to `base_url`.

    The SDK rewrites request hosts when an edge or region is set (argument or TWILIO_EDGE /
    TWILIO_REGION), which would turn 127.0.0.1 into nonsense; both are cleared after
    construction because `environment={}` is falsy and falls back to os.environ.
    """
    client = Client(account_sid, auth_token, http_client=http_client)
    client.edge = None
    client.region = None
    client.api.base_url = base_url.rstrip("/")
    client.messaging.base_url = base_url.rstrip("/")
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


def running_sandbox(callback_delay: float = 0.01, api_key: bool = False) -> Iterator[SandboxServer]:
    """An in-process sandbox on a free port with the local credentials (`api_key`: and the
    local API key, as the command line authenticates), shut down afterwards."""
    keys = {LOCAL_API_KEY_SID: LOCAL_API_KEY_SECRET} if api_key else None
    server = start(Sandbox(LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, callback_delay=callback_delay, api_keys=keys))
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
    return spec_schema(TWILIO_SPEC, "api.v2010.account.message")


def spec_schema(spec_path: Path, name: str) -> dict[str, Any]:
    """One schema of a Twilio OpenAPI spec, its $refs resolvable."""
    spec = json.loads(spec_path.read_text())
    return {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}


# The credentials of the sandbox behind the outbound unit tests, and the API key it accepts too.
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "unit-test-twilio-auth-token"
API_KEYS = {"SK" + "2" * 32: "unit-test-api-key-secret"}
# Past the end of any unit test: no message moves on, so no callback is ever sent (the
# outbound tests' StatusCallback is a public URL, and unit tests use no network).
NO_CALLBACKS = 3600.0
# A create the sandbox refused before it reached the Messages resource.
NOT_RECEIVED = (20003, 20404)


@dataclass
class TwilioView:
    """What the outbound unit tests see of an in-process sandbox, read through its control API:
    the creates and searches it received, the messages it created, and faults to arm."""

    server: SandboxServer
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return self.server.url

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, self.url + path, timeout=10, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def fail(self, status: int, count: int = 1, retry_after: str | None = None, delay: float = 0.0, after_create: bool = False) -> None:
        """The next `count` creates answer `status` (201: Twilio's own answer, `delay` late)."""
        spec: dict[str, Any] = {"count": count, "delay": delay, "after_create": after_create}
        if status != 201:
            spec["status"] = status
        if retry_after is not None:
            spec["retry_after"] = retry_after
        self._control("POST", "/_sandbox/faults", json=spec)

    def clear(self) -> None:
        """Disarm the fault and forget every create and search."""
        for path in ("/_sandbox/faults", "/_sandbox/requests", "/_sandbox/searches"):
            self._control("DELETE", path)

    def _creates(self) -> list[dict[str, Any]]:
        return [e for e in self._control("GET", "/_sandbox/requests") if e["error_code"] not in NOT_RECEIVED]

    def _searches(self) -> list[dict[str, Any]]:
        return [e for e in self._control("GET", "/_sandbox/searches") if e["status"] == 200]

    @property
    def requests(self) -> list[list[tuple[str, str]]]:
        """Each create's form fields, in the order received."""
        return [[(name, value) for name, values in e["form"].items() for value in values] for e in self._creates()]

    def forms(self) -> list[dict[str, Any]]:
        """Each create's fields; MediaUrl as a list."""
        out = []
        for entry in self._creates():
            form: dict[str, Any] = {name: values[-1] for name, values in entry["form"].items() if name != "MediaUrl"}
            form["MediaUrl"] = entry["form"].get("MediaUrl", [])
            out.append(form)
        return out

    @property
    def created(self) -> list[dict[str, Any]]:
        """Every message created, oldest first, as Twilio would fetch it now."""
        return [self.server.sandbox.fetch(e["sid"], "") for e in self._control("GET", "/_sandbox/requests") if e["sid"]]

    @property
    def lists(self) -> list[dict[str, str]]:
        """The query of each Messages list request."""
        return [{name: values[-1] for name, values in e["query"].items()} for e in self._searches()]

    @property
    def auth_users(self) -> list[str]:
        """Who authenticated each create and search (an account or key SID, never a secret)."""
        entries = sorted(self._creates() + self._searches(), key=lambda e: str(e["time"]))
        return [str(e["auth_user"]) for e in entries]

    def add_template(self, **spec: Any) -> str:
        """A Content API template of the sandbox's first account (devstack/sandbox/content.py); its SID."""
        response = self.http.post(self.url + "/_sandbox/content", json={"friendly_name": "order_update", **spec}, timeout=10)
        assert response.status_code == 201, response.text
        return str(response.json()["sid"])

    def set_template_status(self, sid: str, status: str) -> None:
        self._control("POST", f"/_sandbox/content/{sid}", json={"status": status})

    @property
    def content_reads(self) -> list[str]:
        """The path of each Content API request the sandbox answered, in order."""
        return [str(e["path"]) for e in self._control("GET", "/_sandbox/content-requests")]

    @property
    def connections(self) -> set[str]:
        """The client ends (host:port) the creates came from."""
        return {str(e["connection"]) for e in self._creates()}


@contextmanager
def running_twilio() -> Iterator[TwilioView]:
    """An in-process sandbox with the outbound unit tests' credentials, shut down afterwards."""
    server = start(Sandbox(ACCOUNT_SID, AUTH_TOKEN, callback_delay=NO_CALLBACKS, api_keys=API_KEYS))
    view = TwilioView(server)
    try:
        yield view
    finally:
        view.http.close()
        server.shutdown()
        server.server_close()
