"""The sandbox's HTTP front: Twilio's Messages routes, the control API and the request log."""

from __future__ import annotations

import contextlib
import base64
import binascii
import hmac
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, LOCAL_DEFAULT_FROM
from devstack.framing import BodyRefused, content_length
from devstack.sandbox import content, errors, media, numbers
from devstack.sandbox.accounts import AccountError, Accounts
from devstack.sandbox.content import Contents
from devstack.sandbox.errors import TwilioApiError
from devstack.sandbox.lifecycle import CallbackSender, Lifecycle
from devstack.sandbox.faults import Fault, Faults
from devstack.sandbox.inbound import DELIVER, Inbound, InboundSpec, default_url
from devstack.sandbox.listing import MessageList
from devstack.sandbox.messages import API_VERSION, E164, CreateMessage, Message, create
from devstack.sandbox.numbers import Numbers
from devstack.sandbox.redaction import Refusals, redact

MESSAGES = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
MESSAGE = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
MAX_REQUEST_BYTES = 1024 * 1024
DEFAULT_CALLBACK_DELAY = 0.05
# The logs keep the latest entries only, so a long benchmark cannot exhaust memory.
LOG_LIMIT = 100_000

Form = dict[str, list[str]]


class Sandbox:
    """State shared by every request: the accounts, messages, faults, the logs."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        callback_delay: float,
        api_keys: Mapping[str, str] | None = None,
        phone_number: str | None = None,
        inbound_url: str | None = None,
    ) -> None:
        # The account the sandbox starts with; POST /_sandbox/accounts adds others.
        self.account_sid = account_sid
        self.accounts = Accounts(account_sid, auth_token, api_keys)
        # Numbers and Messaging Services (devstack/sandbox/numbers.py). The first account
        # owns `phone_number`, the number it sends from, as a Twilio account owns its sender.
        self.numbers = Numbers()
        if phone_number is not None:
            self.numbers.provision(account_sid, {"PhoneNumber": [phone_number]})
        self.lock = threading.Lock()
        self.messages: dict[str, Message] = {}  # every account's, by SID
        self.requests: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self.searches: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        # Content API templates (devstack/sandbox/content.py) and every request of their routes.
        self.contents = Contents()
        self.content_requests: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self.faults = Faults()
        self.redaction_refusals = Refusals()
        self.callbacks = CallbackSender(limit=LOG_LIMIT)
        self.lifecycle = Lifecycle(self.lock, self.callbacks, callback_delay, self.accounts.token)
        # Customers' messages to the accounts, and their webhooks (devstack/sandbox/inbound.py).
        self.inbound = Inbound(self, inbound_url)
        # How far the control API moved the sandbox's clock ahead (POST /_sandbox/clock):
        # scheduled messages fall due against it, so a test need not wait.
        self.clock_offset = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Sandbox:
        env = os.environ if environ is None else environ
        return cls(
            account_sid=env.get("TWILIO_ACCOUNT_SID") or LOCAL_ACCOUNT_SID,
            auth_token=env.get("TWILIO_AUTH_TOKEN") or LOCAL_AUTH_TOKEN,
            callback_delay=float(env.get("SANDBOX_CALLBACK_DELAY") or DEFAULT_CALLBACK_DELAY),
            api_keys=_api_keys(env),
            phone_number=_default_number(env),
            inbound_url=default_url(env),
        )

    @property
    def auth_token(self) -> str:
        """The first account's current auth token."""
        return self.accounts.token(self.account_sid)

    @property
    def api_keys(self) -> dict[str, str]:
        """The first account's API keys, SID to secret."""
        account = self.accounts.get(self.account_sid)
        return dict(account.api_keys) if account else {}

    def authorize(self, header: str | None, account: str, path: str) -> str:
        """Basic auth as the path's account: its SID and auth token, or one of its API keys
        (SK... and its secret), as Twilio accepts either; anything else is Twilio's 20003,
        another hosted account's credentials too. A path naming an account the sandbox does
        not host is 20404 once the credentials are good for the account they name, as Twilio
        answers an account that is not yours. Answers who authenticated: the account SID or
        the key's SID, never a secret."""
        scheme, user, password = _basic(header)
        hosted = self.accounts.get(account)
        holder = hosted if hosted is not None else self.accounts.owner(user)
        secret = holder.secret(user) if holder is not None else None
        # Compared even for an unknown user, so the answer takes as long either way.
        ok = hmac.compare_digest(password.encode(), (secret or self.auth_token).encode()) and secret is not None
        if scheme.lower() != "basic" or not ok:
            raise errors.authenticate()
        if hosted is None:
            # Twilio authenticates first, then answers another account's path as not found.
            raise errors.not_found(path)
        return user

    def authenticate(self, header: str | None) -> str:
        """Basic auth for a route without an account in its path (Messaging v1): the
        account whose SID, or one of whose API key SIDs, the user is, and its secret.
        Answers that account's SID; anything else is Twilio's 20003."""
        scheme, user, password = _basic(header)
        holder = self.accounts.owner(user)
        secret = holder.secret(user) if holder is not None else None
        ok = hmac.compare_digest(password.encode(), (secret or self.auth_token).encode()) and secret is not None
        if scheme.lower() != "basic" or not ok or holder is None:
            raise errors.authenticate()
        return holder.sid

    def create_message(self, form: Form, account: str | None = None) -> dict[str, Any]:
        """Validate and store a message of `account` (the first one when None); returns the
        resource as created, before it moves on."""
        now = self.now()
        request = CreateMessage.from_form(form, now)
        message = create(account or self.account_sid, request, now)
        if request.content_sid and request.to.startswith("whatsapp:"):
            # A template WhatsApp will not take is accepted, then fails, as at Twilio.
            refusal = self.contents.refusal(message.account_sid, request.content_sid)
            if refusal is not None:
                message.failure = refusal
        with self.lock:
            self.messages[message.sid] = message
            resource = message.resource()
        if request.send_at is not None:
            self.lifecycle.after((request.send_at - now).total_seconds(), self._release)
        else:
            self.lifecycle.begin(message)
        return resource

    def now(self) -> datetime:
        """The sandbox's clock: real time plus what the control API advanced it by."""
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_offset)

    def clock(self) -> dict[str, Any]:
        with self.lock:
            scheduled = sum(1 for m in self.messages.values() if m.status == "scheduled")
        return {"now": self.now().isoformat(), "offset_seconds": self.clock_offset, "scheduled": scheduled}

    def set_clock(self, advance_seconds: float | None) -> dict[str, Any]:
        """Move the clock ahead by `advance_seconds` (None: back to real time) and release
        every scheduled message whose time has come."""
        with self.lock:
            self.clock_offset = 0.0 if advance_seconds is None else self.clock_offset + advance_seconds
        released = self.release_due()
        return {**self.clock(), "released": released}

    def _release(self) -> None:
        self.release_due()

    def release_due(self) -> list[str]:
        """Scheduled messages whose SendAt has passed move to `queued` and on through their
        lifecycle, as Twilio sends them at their time; their SIDs."""
        now = self.now()
        with self.lock:
            due = [m for m in self.messages.values() if m.status == "scheduled" and m.request.send_at and m.request.send_at <= now]
            for message in due:
                # `queued` at once, so a cancel from here on is 30409; the first step's
                # callback announces it.
                message.status = "queued"
                message.date_updated = now
        for message in due:
            self.lifecycle.begin(message)
        return [m.sid for m in due]

    def fetch(self, sid: str, path: str, account: str | None = None) -> dict[str, Any]:
        """The message's resource; another account's message is unknown to `account`
        (None: any account's)."""
        with self.lock:
            message = self.messages.get(sid)
            if message is None or (account is not None and message.account_sid != account):
                raise errors.not_found(path)
            return message.resource()

    def update_message(self, sid: str, path: str, account: str, form: Form) -> dict[str, Any]:
        """POST …/Messages/{Sid}.json: `Status=canceled` cancels a scheduled message (30409
        otherwise) and sends its `canceled` callback; `Body=""` redacts
        (devstack/sandbox/redaction.py)."""
        status = form["Status"][0] if form.get("Status") else None
        with self.lock:
            message = self.messages.get(sid)
            if message is None or message.account_sid != account:
                raise errors.not_found(path)
            if status is None:
                redact(message, form, self.redaction_refusals)
                return message.resource()
            if status != "canceled":
                raise errors.invalid(20001, "Status may only be 'canceled'.")
            if message.status != "scheduled":
                raise errors.invalid(30409, "Message is not in a cancelable state.")
            message.status = "canceled"
            message.date_updated = self.now()
            resource = message.resource()
        self.lifecycle.announce(message)
        return resource

    def list_messages(self, path: str, query: Form, account: str) -> dict[str, Any]:
        """One page of the account's Messages list, newest first, filtered as Twilio filters."""
        listing = MessageList.from_query(query)
        with self.lock:
            found = [
                m.resource() for m in sorted(self.messages.values(), key=_newest_first) if m.account_sid == account and listing.admits(m)
            ]
        return listing.page(path, found)

    def record(
        self,
        path: str,
        form: Form,
        status: int,
        body: Mapping[str, Any],
        auth_user: str | None = None,
        created: str | None = None,
        connection: str | None = None,
    ) -> None:
        entry = {
            "time": datetime.now(timezone.utc).isoformat(),
            "path": path,
            "form": form,
            "status": status,
            # A fault after a create answers an error, yet the message exists.
            "sid": body.get("sid") if status == 201 else created,
            "error_code": body.get("code") if status >= 400 else None,
            "auth_user": auth_user,
            # The client's address and port: a client that keeps its connection sends from one.
            "connection": connection,
        }
        with self.lock:
            self.requests.append(entry)

    def record_search(self, path: str, query: Form, status: int, auth_user: str | None) -> None:
        entry = {"time": datetime.now(timezone.utc).isoformat(), "path": path, "query": query, "status": status, "auth_user": auth_user}
        with self.lock:
            self.searches.append(entry)

    def record_content(self, path: str, query: Form, status: int, auth_user: str | None) -> None:
        entry = {"time": datetime.now(timezone.utc).isoformat(), "path": path, "query": query, "status": status, "auth_user": auth_user}
        with self.lock:
            self.content_requests.append(entry)

    def content_log(self, clear: bool = False) -> list[dict[str, Any]]:
        return self._read(self.content_requests, clear)

    def request_log(self, clear: bool = False) -> list[dict[str, Any]]:
        return self._read(self.requests, clear)

    def search_log(self, clear: bool = False) -> list[dict[str, Any]]:
        return self._read(self.searches, clear)

    def _read(self, log: deque[dict[str, Any]], clear: bool) -> list[dict[str, Any]]:
        with self.lock:
            entries = list(log)
            if clear:
                log.clear()
        return entries

    def close(self) -> None:
        self.lifecycle.stop()


def _pairs(text: str) -> Form:
    """A query or form body, each name with its values in order."""
    form: Form = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        form.setdefault(name, []).append(value)
    return form


def _newest_first(message: Message) -> tuple[float, str]:
    return (-message.date_created.timestamp(), message.sid)


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise AccountError(400, "the body must be a JSON object") from None


def _basic(header: str | None) -> tuple[str, str, str]:
    """The scheme, user and password of an Authorization header; 20003 when undecodable."""
    scheme, _, encoded = (header or "").partition(" ")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise errors.authenticate() from None
    return scheme, user, password


def _default_number(env: Mapping[str, str]) -> str | None:
    """The number the stack's services send from by default, which the first account owns."""
    number = env.get("TWILIO_DEFAULT_FROM_NUMBER") or LOCAL_DEFAULT_FROM
    return number if E164.match(number) else None


def _json_object(raw: bytes) -> dict[str, Any]:
    """An optional JSON object body: {} when there is none."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise errors.invalid(20001, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise errors.invalid(20001, "the body must be a JSON object")
    return data


def _api_keys(env: Mapping[str, str]) -> dict[str, str]:
    """The API key the stack's services are configured with, if any: the sandbox accepts it."""
    sid, secret = env.get("TWILIO_API_KEY_SID"), env.get("TWILIO_API_KEY_SECRET")
    return {sid: secret} if sid and secret else {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client's session reuses one connection
    server_version = "TwilioSandbox/1.0"
    # Headers and body leave in two writes; with Nagle's algorithm on, the body waited for the
    # client's delayed ACK of the headers, about 40 ms on every keep-alive request.
    disable_nagle_algorithm = True

    @property
    def sandbox(self) -> Sandbox:
        return cast(SandboxServer, self.server).sandbox

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            # Against the largest body any route takes (hosted media); each route then holds
            # its body to its own limit.
            content_length(self.headers.get("Content-Length"), media.MAX_MEDIA_BYTES)
        except BodyRefused as exc:
            self.close_connection = True
            error = TwilioApiError(exc.status, 20001, exc.message, {"Connection": "close"})
            self._send(error.status, error.body(), error.headers)
            return
        if media.handles(path):  # hosted media: devstack/sandbox/media.py reads its own body
            media.dispatch(self, self.sandbox, method)
            return
        try:
            raw = self._read_body()
            if path.startswith("/_sandbox/") or path == "/health":
                self._control(method, path, raw)
            elif method == "POST" and (match := MESSAGES.match(path)):
                self._create(match["account"], path, raw)
            elif method == "GET" and (match := MESSAGES.match(path)):
                self._list(match["account"], path)
            elif method == "POST" and (match := MESSAGE.match(path)):
                self._update(match["account"], match["sid"], path, raw)
            elif method == "GET" and (match := MESSAGE.match(path)):
                self.sandbox.authorize(self.headers.get("Authorization"), match["account"], path)
                self._send(200, self.sandbox.fetch(match["sid"], path, match["account"]))
            elif numbers.handles(path):
                self._numbers(method, path, raw)
            elif content.handles(path):
                self._content(method, path)
            else:
                raise errors.not_found(path)
        except TwilioApiError as exc:
            self._send(exc.status, exc.body(), exc.headers)

    def _numbers(self, method: str, path: str, raw: bytes) -> None:
        """Phone numbers and Messaging Services (devstack/sandbox/numbers.py)."""
        header = self.headers.get("Authorization")
        origin = self.origin
        status, body = numbers.route(
            self.sandbox.numbers,
            method,
            path,
            _pairs(urlsplit(self.path).query),
            _pairs(raw.decode("utf-8", "replace")),
            lambda account, where: self.sandbox.authorize(header, account, where),
            lambda: self.sandbox.authenticate(header),
            origin,
        )
        self._send(status, body)

    @property
    def origin(self) -> str:
        """The origin the client reached: Messaging v1's and Content v1's links are absolute under it."""
        return "http://" + (self.headers.get("Host") or cast(SandboxServer, self.server).url.removeprefix("http://"))

    def _content(self, method: str, path: str) -> None:
        """Content API templates (devstack/sandbox/content.py); each request is logged."""
        query = _pairs(urlsplit(self.path).query)
        user: str | None = None
        try:
            user = self.sandbox.authenticate(self.headers.get("Authorization"))
            status, body = content.route(self.sandbox.contents, method, path, query, user, self.origin)
        except TwilioApiError as exc:
            self.sandbox.record_content(path, query, exc.status, user)
            raise
        self.sandbox.record_content(path, query, status, user)
        self._send(status, body)

    def _list(self, account: str, path: str) -> None:
        query: Form = {}
        for name, value in parse_qsl(urlsplit(self.path).query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        user: str | None = None
        try:
            user = self.sandbox.authorize(self.headers.get("Authorization"), account, path)
            page = self.sandbox.list_messages(path, query, account)
        except TwilioApiError as exc:
            self.sandbox.record_search(path, query, exc.status, user)
            raise
        self.sandbox.record_search(path, query, 200, user)
        self._send(200, page)

    def _create(self, account: str, path: str, raw: bytes) -> None:
        form: Form = {}
        for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(name, []).append(value)
        status, body, headers = 201, {}, {}
        user: str | None = None
        created: str | None = None
        fault: Fault | None = None
        try:
            user = self.sandbox.authorize(self.headers.get("Authorization"), account, path)
            fault = self.sandbox.faults.take()
            if fault is not None and not fault.after_create:
                assert fault.error is not None  # a fault without a status always creates
                raise fault.error
            body = self.sandbox.create_message(form, account)
            created = body["sid"]
            if fault is not None and fault.error is not None:
                raise fault.error
        except TwilioApiError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers
        # Logged as soon as it is decided, so the log shows a held answer at once.
        host, port = self.client_address[:2]
        self.sandbox.record(path, form, status, body, user, created, f"{host}:{port}")
        if fault is not None:
            time.sleep(fault.delay)
        # The client may have given up waiting (a delay fault): the message exists all the same.
        with contextlib.suppress(OSError):
            self._send(status, body, headers)

    def _update(self, account: str, sid: str, path: str, raw: bytes) -> None:
        form: Form = {}
        for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(name, []).append(value)
        user: str | None = None
        try:
            user = self.sandbox.authorize(self.headers.get("Authorization"), account, path)
            status, body = 200, self.sandbox.update_message(sid, path, account, form)
        except TwilioApiError as exc:
            self.sandbox.record(path, form, exc.status, exc.body(), user, sid)
            raise
        self.sandbox.record(path, form, status, body, user, sid)
        self._send(status, body)

    def _control(self, method: str, path: str, raw: bytes) -> None:
        sandbox = self.sandbox
        if path == "/health" and method == "GET":
            self._send(200, {"status": "ok"})
        elif path == "/_sandbox/faults" and method == "POST":
            try:
                spec = json.loads(raw or b"{}")
                self._send(200, sandbox.faults.set(spec if isinstance(spec, dict) else {}))
            except ValueError as exc:
                self._send(400, {"code": 20001, "message": str(exc), "more_info": None, "status": 400})
        elif path == "/_sandbox/faults" and method in ("GET", "DELETE"):
            current = sandbox.faults.current()
            if method == "DELETE":
                sandbox.faults.clear()
            self._send(200, current)
        elif path == "/_sandbox/redaction-refusals" and method == "POST":
            try:
                self._send(200, sandbox.redaction_refusals.set(json.loads(raw or b"{}")))
            except ValueError as exc:
                self._send(400, {"code": 20001, "message": str(exc), "more_info": None, "status": 400})
        elif path == "/_sandbox/redaction-refusals" and method == "GET":
            self._send(200, sandbox.redaction_refusals.current())
        elif path == "/_sandbox/requests" and method in ("GET", "DELETE"):
            self._send(200, sandbox.request_log(clear=method == "DELETE"))
        elif path == "/_sandbox/searches" and method in ("GET", "DELETE"):
            self._send(200, sandbox.search_log(clear=method == "DELETE"))
        elif path == "/_sandbox/callbacks" and method in ("GET", "DELETE"):
            self._send(200, sandbox.callbacks.records(clear=method == "DELETE"))
        elif path == "/_sandbox/inbound" and method == "POST":
            self._send(201, sandbox.inbound.receive(InboundSpec.from_json(raw), self.server_url))
        elif path == "/_sandbox/inbound" and method in ("GET", "DELETE"):
            self._send(200, sandbox.inbound.records(clear=method == "DELETE"))
        elif (match := DELIVER.match(path)) and method == "POST":
            url = _json_object(raw).get("url")
            self._send(200, sandbox.inbound.redeliver(match["sid"], path, url if isinstance(url, str) else None))
        elif path == "/_sandbox/clock" and method == "GET":
            self._send(200, sandbox.clock())
        elif path == "/_sandbox/clock" and method in ("POST", "DELETE"):
            advance = _json_object(raw).get("advance_seconds") if method == "POST" else None
            if method == "POST" and (isinstance(advance, bool) or not isinstance(advance, (int, float)) or advance < 0):
                raise errors.invalid(20001, "advance_seconds must be a number of seconds, 0 or more")
            self._send(200, sandbox.set_clock(advance))
        elif path == "/_sandbox/pending" and method == "GET":
            self._send(200, {"steps": sandbox.lifecycle.pending})
        elif path == content.CONTROL and method == "POST":
            spec = _json_object(raw)
            account = spec.get("account_sid", sandbox.account_sid)
            if not isinstance(account, str) or sandbox.accounts.get(account) is None:
                raise errors.invalid(20001, "account_sid must be an account the sandbox hosts")
            self._send(201, sandbox.contents.add(account, spec, self.origin))
        elif path == content.CONTROL and method == "GET":
            self._send(200, sandbox.contents.views(self.origin))
        elif (match := content.CONTROL_ONE.match(path)) and method == "POST":
            self._send(200, sandbox.contents.set_approval(match["sid"], _json_object(raw), self.origin))
        elif path == "/_sandbox/content-requests" and method in ("GET", "DELETE"):
            self._send(200, sandbox.content_log(clear=method == "DELETE"))
        elif path == "/_sandbox/accounts" or path.startswith("/_sandbox/accounts/"):
            self._accounts(method, path, raw)
        else:
            raise errors.not_found(path)

    def _accounts(self, method: str, path: str, raw: bytes) -> None:
        """The hosted accounts (devstack/sandbox/accounts.py). Bodies hold secrets: neither
        they nor the answers' errors are logged, and no answer holds a secret."""
        accounts = self.sandbox.accounts
        sid = path.removeprefix("/_sandbox/accounts").removeprefix("/")
        try:
            if not sid and method == "POST":
                status, view = accounts.add(_json(raw))
                self._send(status, view)
            elif not sid and method == "GET":
                self._send(200, accounts.views())
            elif sid and "/" not in sid and method == "GET":
                self._send(200, accounts.view(sid))
            elif sid and "/" not in sid and method == "PUT":
                self._send(200, accounts.rotate(sid, _json(raw)))
            else:
                raise errors.not_found(path)
        except AccountError as exc:
            self._send(exc.status, exc.body())

    @property
    def server_url(self) -> str:
        return cast(SandboxServer, self.server).url

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True  # the unread body must not be parsed as a next request
            raise TwilioApiError(413, 20001, f"Request body exceeds {MAX_REQUEST_BYTES} bytes")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # the request log is GET /_sandbox/requests; access lines would carry numbers


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    # http.server's default backlog of 5 resets connections when many senders connect at once.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox  # before binding: a failed bind calls server_close()
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def server_close(self) -> None:
        super().server_close()
        self.sandbox.close()
