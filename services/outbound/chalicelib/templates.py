"""Content API templates: a send with content_sid is checked against its template before
Twilio's Messages API hears of it.

Twilio accepts a send naming a template WhatsApp will not take (pending, rejected, paused,
disabled) and fails it later in a status callback (63040/63041/63042), and a template given
variables it does not declare, or without ones it does, fails the same way. Both are refused
here instead, with nothing sent:

- `template_not_approved` (400): a WhatsApp send whose template's WhatsApp approval is not
  `approved` (Content API `GET /v1/Content/{HX}/ApprovalRequests`, `whatsapp.status`); the
  message names the status. SMS templates need no approval, so only WhatsApp sends read it.
- `template_variables_invalid` (400): `content_variables` names a variable the template does
  not declare, or leaves out one it does (`GET /v1/Content/{HX}`, `variables`). The message
  names the variables, never their values.
- `template_not_found` (400): the account has no such template (Twilio's 404).

What the Content API answered is kept per container, per account and template (LRU, at
most MAX_TEMPLATES entries of each kind): the declared variables and an `approved` status for
APPROVED_SECONDS (5 minutes), any other status for UNAPPROVED_SECONDS (30 s), so a template
approved (or paused) at Twilio is seen within those bounds. A warm send of a known template
makes no request; a container's first send of one makes one (SMS) or two (WhatsApp).
A lookup that fails for now (Twilio's 429 or 5xx, no answer) raises the retryable error
(rate_limited, twilio_unavailable) with nothing sent and nothing cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from carrier_core.errors import (
    CarrierError,
    RateLimited,
    TemplateNotApproved,
    TemplateNotFound,
    TemplateVariablesInvalid,
    TwilioAuthenticationFailed,
    TwilioRejected,
    TwilioUnavailable,
)
from carrier_core.settings import Settings
from carrier_core.vocabulary import Channel

from chalicelib.request import OutboundRequest
from chalicelib.twilio_client import CONNECT_TIMEOUT, KeepingHttpClient, build_client

log = logging.getLogger(__name__)

APPROVED = "approved"
# A template never sent to WhatsApp for approval: the Content API then has no status for it.
UNSUBMITTED = "unsubmitted"
APPROVED_SECONDS = 300.0
UNAPPROVED_SECONDS = 30.0
MAX_TEMPLATES = 1024
# A lookup is a GET: its read may time out sooner than a create's, leaving the send its time.
READ_TIMEOUT = 4.0
# Twilio's code for sending the template in each status, carried as the error's twilio_code.
STATUS_CODES = {"rejected": 63040, "paused": 63041, "disabled": 63042}


@dataclass(frozen=True)
class Approval:
    """A template's WhatsApp approval as the Content API reports it."""

    status: str
    name: str | None = None


class TtlCache:
    """Values by key, each for its own number of seconds, the least recently used dropped
    past `limit`. Thread-safe: chalice local serves requests on threads."""

    def __init__(self, limit: int = MAX_TEMPLATES, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: OrderedDict[tuple[str, ...], tuple[float, Any]] = OrderedDict()
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: tuple[str, ...], value: Any, seconds: float) -> None:
        with self._lock:
            self._items[key] = (self._clock() + seconds, value)
            self._items.move_to_end(key)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_cache = TtlCache()
_clients: dict[tuple[str, str, str], Client] = {}
_clients_lock = threading.Lock()


def reset() -> None:
    """Forget every template and client (tests)."""
    _cache.clear()
    with _clients_lock:
        _clients.clear()


def _client(settings: Settings) -> Client:
    """The Content API client for the settings' account: the outbound Twilio client's build
    (credentials, no edge rewriting), with a shorter read timeout of its own."""
    key = (settings.account.account_sid, *settings.account.rest_credentials)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if len(_clients) >= MAX_TEMPLATES:
                _clients.clear()
            client = build_client(settings, KeepingHttpClient(timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), pool_size=4))
            base = content_base_url(settings)
            if base is not None:
                client.content.base_url = base
            _clients[key] = client
        return client


def content_base_url(settings: Settings) -> str | None:
    """Where the Content API is: TWILIO_CONTENT_API_BASE_URL; else, when TWILIO_API_BASE_URL
    points at a stand-in for Twilio (the local sandbox serves both), that; else None, the
    SDK's https://content.twilio.com."""
    base = settings.twilio_content_api_base_url or settings.twilio_api_base_url
    return base.rstrip("/") if base else None


def check_template(request: OutboundRequest, settings: Settings) -> None:
    """Raise the taxonomy's error when the request's template may not be sent as asked."""
    sid = request.content_sid
    if sid is None:
        return
    if request.channel is Channel.WHATSAPP:
        approval = whatsapp_approval(settings, sid)
        if approval.status != APPROVED:
            log.info("template not approved", extra={"content_sid": sid, "whatsapp_status": approval.status})
            raise TemplateNotApproved(
                f"template {sid} is {approval.status} for WhatsApp, not approved: only an approved template may be sent",
                twilio_code=STATUS_CODES.get(approval.status),
            )
    declared = declared_variables(settings, sid)
    given = set(request.variables)
    unknown, missing = sorted(given - declared), sorted(declared - given)
    if unknown or missing:
        parts = ([f"not declared by the template: {', '.join(unknown)}"] if unknown else []) + (
            [f"declared and missing: {', '.join(missing)}"] if missing else []
        )
        log.info("template variables invalid", extra={"content_sid": sid, "unknown": len(unknown), "missing": len(missing)})
        raise TemplateVariablesInvalid(f"content_variables must be exactly the variables template {sid} declares; " + "; ".join(parts))


def declared_variables(settings: Settings, sid: str) -> frozenset[str]:
    """The names the template declares (`GET /v1/Content/{sid}`, `variables`)."""
    key = ("variables", settings.account.account_sid, sid)
    cached: frozenset[str] | None = _cache.get(key)
    if cached is not None:
        return cached
    content = _read(settings, sid, lambda client: client.content.v1.contents(sid).fetch())
    variables = content.variables if isinstance(content.variables, dict) else {}
    declared = frozenset(str(name) for name in variables)
    _cache.put(key, declared, APPROVED_SECONDS)
    return declared


def whatsapp_approval(settings: Settings, sid: str) -> Approval:
    """The template's WhatsApp approval (`GET /v1/Content/{sid}/ApprovalRequests`)."""
    key = ("approval", settings.account.account_sid, sid)
    cached: Approval | None = _cache.get(key)
    if cached is not None:
        return cached
    fetched = _read(settings, sid, lambda client: client.content.v1.contents(sid).approval_fetch().fetch())
    whatsapp = fetched.whatsapp if isinstance(fetched.whatsapp, dict) else {}
    status = str(whatsapp.get("status") or UNSUBMITTED).lower()
    name = whatsapp.get("name")
    approval = Approval(status, str(name) if name else None)
    _cache.put(key, approval, APPROVED_SECONDS if status == APPROVED else UNAPPROVED_SECONDS)
    return approval


def _read(settings: Settings, sid: str, fetch: Callable[[Client], Any]) -> Any:
    """One Content API read; Twilio's answer mapped into the taxonomy."""
    try:
        return fetch(_client(settings))
    except TwilioRestException as exc:
        raise _rest_error(exc, sid) from exc
    except requests.RequestException as exc:
        log.warning("content api unreachable", extra={"error_type": type(exc).__name__})
        raise TwilioUnavailable(f"Twilio's Content API did not answer: {type(exc).__name__}") from exc


def _rest_error(exc: TwilioRestException, sid: str) -> CarrierError:
    status = int(exc.status)
    code = exc.code if isinstance(exc.code, int) and exc.code != status else None
    log.info("content api refused", extra={"http_status": status, "twilio_code": code})
    if status == 404:
        return TemplateNotFound(f"no template {sid} exists in the Twilio account", twilio_code=code)
    if status in (401, 403):
        return TwilioAuthenticationFailed("Twilio's Content API refused the account's credentials", twilio_code=code)
    if status == 429:
        return RateLimited("Twilio's Content API asked us to slow down", twilio_code=code or 20429)
    if status >= 500:
        return TwilioUnavailable(f"Twilio's Content API answered {status}", twilio_code=code)
    return TwilioRejected(f"Twilio's Content API answered {status} for template {sid}", twilio_code=code)
