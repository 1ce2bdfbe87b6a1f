"""Twilio's REST client, built once per cold start, with an HTTP client of ours under it.

The SDK retries nothing and its TwilioRestException drops the response headers, so
Retry-After is lost. Rather than read the SDK's private `_test_only_last_response`, our
HttpClient answers with a Response that keeps the headers and remembers the last one per
thread (chalice local serves requests on threads; Lambda runs one at a time).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from carrier_core.digits import ascii_int
from carrier_core.errors import CarrierError, RateLimited, TwilioRejected, TwilioUnavailable, from_twilio_code
from carrier_core.settings import Settings

from chalicelib.request import OutboundRequest
from chalicelib.schedule import SCHEDULE_TYPE, send_at_datetime

log = logging.getLogger(__name__)

# Connect fast (a refused connection is cheap to retry); reading waits longer, because a
# read timeout on a POST leaves us not knowing whether Twilio created the message.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0


class KeepingHttpClient(HttpClient):  # type: ignore[misc]  # the SDK ships no type hints
    """A pooled, non-retrying HttpClient that keeps each response's headers readable."""

    def __init__(self, timeout: tuple[float, float] | None = None, pool_size: int = 16) -> None:
        super().__init__(logger=log, is_async=False, timeout=None)
        self.request_timeout = timeout or (CONNECT_TIMEOUT, READ_TIMEOUT)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._local = threading.local()

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request; never retried here. Transport errors propagate as requests' own."""
        self._local.response = None
        response = self.session.request(
            method.upper(),
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout or self.request_timeout,
            allow_redirects=allow_redirects,
        )
        kept = Response(int(response.status_code), response.text, dict(response.headers))
        self._local.response = kept
        return kept

    def last_response(self) -> Response | None:
        """The response this thread's latest request received, headers and all."""
        kept: Response | None = getattr(self._local, "response", None)
        return kept


@dataclass(frozen=True)
class Accepted:
    """What Twilio answered when it took the message."""

    sid: str
    status: str
    account_sid: str | None
    # Found by listing after an attempt whose answer was lost, rather than answered to us.
    adopted: bool = False


class TwilioCallFailed(Exception):
    """One call to Twilio failed; `error` says how, `retry_after` when Twilio asked for a pause."""

    def __init__(self, error: CarrierError, http_status: int | None, retry_after: float | None = None, maybe_created: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.http_status = http_status
        self.retry_after = retry_after
        self.maybe_created = maybe_created

    @property
    def transient(self) -> bool:
        """429, 5xx and transport failures are worth another try; any other answer is final."""
        return self.http_status is None or self.http_status == 429 or self.http_status >= 500

    def describe(self) -> dict[str, Any]:
        """The error as stored with a failed send, in the API's names: `code` ours,
        `twilio_code` Twilio's (carrier_core.failed_sends.error_codes reads both spellings)."""
        return {
            "http_status": self.http_status,
            "code": self.error.code,
            "twilio_code": self.error.twilio_code,
            "message": self.error.message,
            "retry_after": self.retry_after,
            "maybe_created": self.maybe_created,
        }


# One client per account and credentials (a tenant's own), each with its own connections.
MAX_CLIENTS = 64
_clients: OrderedDict[tuple[str, str, str], tuple[Client, KeepingHttpClient]] = OrderedDict()
_lock = threading.Lock()


def get_client(settings: Settings) -> tuple[Client, KeepingHttpClient]:
    """The process's Twilio client for the settings' account, and its HTTP client, built on first use."""
    key = (settings.account.account_sid, *settings.account.rest_credentials)
    with _lock:
        found = _clients.get(key)
        if found is None:
            http = KeepingHttpClient()
            found = _clients[key] = (build_client(settings, http), http)
            while len(_clients) > MAX_CLIENTS:
                _clients.popitem(last=False)
        _clients.move_to_end(key)
        return found


def reset_client() -> None:
    """Forget the clients, so the next send builds one from the current settings (tests)."""
    with _lock:
        _clients.clear()


def build_client(settings: Settings, http: KeepingHttpClient) -> Client:
    """A Client aimed at Twilio, or at `twilio_api_base_url` when set (the local sandbox).

    The SDK rewrites every request's host from TWILIO_EDGE / TWILIO_REGION (get_hostname),
    which would turn 127.0.0.1 into nonsense and send a deployed stage somewhere we did not
    configure; an explicit environment without them and cleared attributes rule that out.

    With an API key configured, REST calls authenticate as the key (Twilio's advice: a key
    can be revoked alone); the auth token is then only used to check webhook signatures.
    """
    username, password = settings.account.rest_credentials
    client = Client(
        username,
        password,
        account_sid=settings.account.account_sid,
        http_client=http,
        environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
    )
    client.edge = None
    client.region = None
    if settings.twilio_api_base_url:
        client.api.base_url = settings.twilio_api_base_url.rstrip("/")
    return client


def create_message(settings: Settings, request: OutboundRequest) -> Accepted:
    """One Messages.json POST; raises TwilioCallFailed with the mapped error."""
    client, http = get_client(settings)
    try:
        instance = client.api.v2010.accounts(settings.account.account_sid).messages.create(**_params(request))
    except TwilioRestException as exc:
        raise rest_failure(exc, http.last_response()) from exc
    except requests.RequestException as exc:
        raise transport_failure(exc) from exc
    return Accepted(sid=str(instance.sid), status=str(instance.status or "queued"), account_sid=instance.account_sid)


def cancel_message(settings: Settings, sid: str) -> str:
    """Twilio's update with Status=canceled; the status Twilio answers. Raises
    TwilioCallFailed: 30409 (not scheduled any more) maps to not_cancelable."""
    client, http = get_client(settings)
    try:
        instance = client.api.v2010.accounts(settings.account.account_sid).messages(sid).update(status="canceled")
    except TwilioRestException as exc:
        raise rest_failure(exc, http.last_response()) from exc
    except requests.RequestException as exc:
        raise transport_failure(exc) from exc
    return str(instance.status or "canceled")


def transport_failure(exc: requests.RequestException) -> TwilioCallFailed:
    """No answer from Twilio. Only a failure to connect proves the request was never sent.

    A refused connection, a connect timeout, a failed name lookup or TLS handshake all end
    before the first byte of the POST leaves; a read timeout or a connection dropped
    mid-answer may come after Twilio created the message.
    """
    unsent = isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)) or _caused_by(exc, NewConnectionError)
    log.warning("twilio unreachable", extra={"error_type": type(exc).__name__, "maybe_created": not unsent})
    return TwilioCallFailed(TwilioUnavailable(f"Twilio did not answer: {type(exc).__name__}"), None, maybe_created=not unsent)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when `kind` is anywhere in the chain requests and urllib3 wrap a failure in."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
    return False


def _params(request: OutboundRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"to": request.to, "status_callback": request.status_callback}
    optional = {
        "from_": request.from_number,
        "messaging_service_sid": request.messaging_service_sid,
        "body": request.body,
        "media_url": list(request.media_urls) or None,
        "validity_period": request.validity_period,
        "content_sid": request.content_sid,
        "content_variables": request.content_variables,
        # Only ever with a Messaging Service (chalicelib.schedule checked it).
        "send_at": send_at_datetime(request.send_at) if request.send_at else None,
        "schedule_type": SCHEDULE_TYPE if request.send_at else None,
        # max_price is not sent: Twilio has ignored MaxPrice since 2024-06-03.
    }
    params.update({name: value for name, value in optional.items() if value is not None})
    return params


def rest_failure(exc: TwilioRestException, response: Response | None) -> TwilioCallFailed:
    status = int(exc.status)
    headers: Mapping[str, str] = (response.headers if response is not None and response.status_code == status else None) or {}
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    message = _twilio_message(response) or f"Twilio answered {status}"
    code = exc.code if isinstance(exc.code, int) and exc.code != status else None
    if status == 429:
        error: CarrierError = RateLimited(message, twilio_code=code or 20429)
    elif status >= 500:
        # Twilio's 20500: the request may have been processed. Never retried blindly.
        error = TwilioUnavailable(message, twilio_code=code)
    else:
        error = from_twilio_code(code, message) if code is not None else TwilioRejected(message)
    log.info("twilio refused", extra={"http_status": status, "twilio_code": code, "error_code": error.code})
    return TwilioCallFailed(error, status, retry_after, maybe_created=status >= 500)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _twilio_message(response: Response | None) -> str | None:
    if response is None:
        return None
    try:
        payload = json.loads(response.text)
    except ValueError:
        return None
    message = payload.get("message") if isinstance(payload, dict) else None
    return str(message) if message else None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    seconds = ascii_int(value)  # "²".isdigit() is true, and float("²") raises
    if seconds is not None:
        return float(seconds)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())
